"""Creates the stack's bucket if it is missing (run once the S3 server answers) and, when browsers
send documents straight to it (S3_PUBLIC_URL), lets the service's pages do so (CORS)."""
from __future__ import annotations

import os

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from registro.adapters.storage import browser_upload_cors


def main() -> None:
    s3 = boto3.client(
        "s3",
        endpoint_url=os.environ["S3_ENDPOINT_URL"],
        aws_access_key_id=os.environ["S3_ACCESS_KEY"],
        aws_secret_access_key=os.environ["S3_SECRET_KEY"],
        region_name=os.environ.get("S3_REGION", "us-east-1"),
        config=Config(s3={"addressing_style": "path"}),
    )
    bucket = os.environ["S3_BUCKET"]
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError:
        s3.create_bucket(Bucket=bucket)
        print(f"cubeta {bucket} creada")
    if os.environ.get("S3_PUBLIC_URL"):
        origin = os.environ["REGISTRO_PUBLIC_URL"].rstrip("/")
        s3.put_bucket_cors(Bucket=bucket, CORSConfiguration=browser_upload_cors(origin))


if __name__ == "__main__":
    main()
