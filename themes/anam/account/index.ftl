<#-- Replaces Keycloak's account console (issue 11, item 16): one Spanish page that sends the visitor
     to the ANAM portal's login; no script, no attribute shown. Texts: messages/messages_es.properties. -->
<!doctype html>
<html lang="es-MX">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <meta http-equiv="refresh" content="0; url=${properties.anamPortalUrl}">
  <title>${msg("anamCuentaTitulo")}</title>
  <link rel="stylesheet" href="${resourceUrl}/css/anam-cuenta.css">
</head>
<body>
  <header class="anam-encabezado"><span class="anam-marca">${msg("anamMarcaHacienda")}</span> <span class="anam-marca anam-marca-aduanas">${msg("anamMarcaAduanas")}</span></header>
  <main class="anam-tarjeta">
    <h1>${msg("anamCuentaEncabezado")}</h1>
    <p>${msg("anamCuentaTexto")}</p>
    <p><a class="anam-boton" href="${properties.anamPortalUrl}">${msg("anamCuentaIrPortal")}</a></p>
    <p><a href="${properties.anamRecuperarUrl}">${msg("anamCuentaRecuperar")}</a></p>
  </main>
  <footer class="anam-pie">${msg("anamPie")}</footer>
</body>
</html>
