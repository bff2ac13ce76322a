<#-- keycloak.v2 login.ftl with the two links of the ANAM login page (SPEC §3). Self-service
     registration and password reset live in the `registro` service, not in Keycloak, so the
     links point there (theme properties anamRegistroUrl / anamRecuperarUrl) instead of
     Keycloak's own registration / reset-credentials pages, which the realm keeps disabled. -->
<#import "template.ftl" as layout>
<#import "field.ftl" as field>
<#import "buttons.ftl" as buttons>
<#import "social-providers.ftl" as identityProviders>
<#import "passkeys.ftl" as passkeys>
<@layout.registrationLayout displayMessage=!messagesPerField.existsError('username','password') displayInfo=realm.password; section>
<!-- template: login.ftl (anam) -->

    <#if section = "header">
        ${msg("loginAccountTitle")}
    <#elseif section = "form">
        <div id="kc-form">
          <div id="kc-form-wrapper">
            <#if realm.password>
                <form id="kc-form-login" class="${properties.kcFormClass!}" onsubmit="login.disabled = true; return true;" action="${url.loginAction}" method="post" novalidate="novalidate">
                    <#if !usernameHidden??>
                        <@field.input name="username" label=msg("username") error=messagesPerField.getFirstError('username','password')
                            autofocus=true autocomplete="${(enableWebAuthnConditionalUI?has_content)?then('username webauthn', 'username')}" value=login.username!'' />
                    </#if>
                    <@field.password name="password" label=msg("password") error="" forgotPassword=false autofocus=usernameHidden?? autocomplete="current-password" />

                    <input type="hidden" id="id-hidden-input" name="credentialId" <#if auth.selectedCredential?has_content>value="${auth.selectedCredential}"</#if>/>
                    <@buttons.loginButton />
                </form>
            </#if>
            </div>
        </div>
        <@passkeys.conditionalUIData />
    <#elseif section = "socialProviders" >
        <#if realm.password && social.providers?? && social.providers?has_content>
            <@identityProviders.show social=social/>
        </#if>
    <#elseif section = "info" >
        <nav id="anam-enlaces" class="anam-enlaces" aria-label="${msg("anamEnlacesCuenta")}">
            <#-- A page read in another language than Spanish (the default) passes it on to the registro service. -->
            <#assign anamIdioma = (locale?? && locale.currentLanguageTag != "es")?then("?lang=" + locale.currentLanguageTag, "")>
            <a id="anam-registrarse" href="${properties.anamRegistroUrl}${anamIdioma}">${msg("doRegister")}</a>
            <a id="anam-olvido" href="${properties.anamRecuperarUrl}${anamIdioma}">${msg("doForgotPassword")}</a>
        </nav>
    </#if>

</@layout.registrationLayout>
