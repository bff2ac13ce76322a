"""Personal link tokens never reach gunicorn's access log."""
from gunicorn.config import Config

from registro.access_log import TokenMaskingLogger, mask


def test_mask_hides_the_token_and_keeps_the_rest():
    assert mask("GET /activacion/eyJhIjoiMSJ9.abc.def/documentos/curp HTTP/1.1") == \
        "GET /activacion/…/documentos/curp HTTP/1.1"
    assert mask("GET /registro HTTP/1.1") == "GET /registro HTTP/1.1"


class _Resp:
    status = "200 OK"
    response_length = 10
    sent = 10
    headers = []


class _Req:
    headers = []
    method = "GET"
    path = "/activacion/SECRETO.x.y"
    query = ""
    uri = "/activacion/SECRETO.x.y"
    version = (1, 1)


def test_logger_atoms_are_masked():
    logger = TokenMaskingLogger(Config())
    environ = {"REQUEST_METHOD": "GET", "RAW_URI": "/activacion/SECRETO.x.y", "PATH_INFO": "/activacion/SECRETO.x.y",
               "QUERY_STRING": "", "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1"}
    from datetime import timedelta

    atoms = logger.atoms(_Resp(), _Req(), environ, timedelta(seconds=0.01))
    assert "SECRETO" not in atoms["r"] and "SECRETO" not in atoms["U"]
