# Keycloak built once for production, as `make prod-up` builds it (tools/stack/prod.py,
# KEYCLOAK_BUILD_OPTIONS; a unit test keeps both equal). Build options are stored in the image in
# plain text: never a secret here. The nodes start with `start --optimized`.
FROM quay.io/keycloak/keycloak:26.7.3 AS builder
RUN /opt/keycloak/bin/kc.sh build --db=postgres --health-enabled=true --metrics-enabled=true --event-metrics-user-enabled=true

FROM quay.io/keycloak/keycloak:26.7.3
COPY --from=builder /opt/keycloak/ /opt/keycloak/
COPY themes/anam /opt/keycloak/themes/anam
ENTRYPOINT ["/opt/keycloak/bin/kc.sh"]
