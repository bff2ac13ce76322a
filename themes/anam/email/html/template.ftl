<#-- Same look as the emails of the registro service (services/registro/templates/email/_layout.html):
     keep both in step. Email clients ignore stylesheets, so styles are inline. Every HTML email
     of Keycloak (set-password / execute-actions, verification, event notices) uses this layout. -->
<#macro emailLayout>
<!doctype html>
<html lang="${(locale.toLanguageTag())!'es-MX'}">
<head><meta charset="utf-8"><title>${realmName!"Acceso Único"}</title></head>
<body style="margin:0;padding:0;background:#f5f3ef;font-family:Arial,Helvetica,sans-serif;color:#1f1f1f;">
  <table role="presentation" width="100%" cellpadding="0" cellspacing="0" style="background:#f5f3ef;">
    <tr><td align="center" style="padding:24px 12px;">
      <table role="presentation" width="600" cellpadding="0" cellspacing="0" style="max-width:600px;width:100%;background:#ffffff;border-radius:6px;">
        <tr><td style="background:#691c32;color:#ffffff;padding:16px 24px;border-bottom:4px solid #bc955c;border-radius:6px 6px 0 0;">
          <span style="font-weight:bold;letter-spacing:3px;">${msg("anamMarcaHacienda")}</span>
          <span style="color:#ddc9a3;font-weight:bold;letter-spacing:3px;margin-left:16px;">${msg("anamMarcaAduanas")}</span>
        </td></tr>
        <tr><td style="padding:24px;font-size:16px;line-height:1.5;">
          <#nested>
        </td></tr>
        <tr><td style="padding:16px 24px;color:#545454;font-size:12px;border-top:1px solid #ddc9a3;">
          ${msg("anamPieCorreo")}
        </td></tr>
      </table>
    </td></tr>
  </table>
</body>
</html>
</#macro>
