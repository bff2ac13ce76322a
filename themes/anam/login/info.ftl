<#-- base/login/info.ftl with one change (issue 11, item 16): a page that would offer no way forward
     (Keycloak sets skipLink, or knows no application, e.g. after a set-password email sent without a
     client) links to the ANAM portal's login instead of leaving the person on a dead end. -->
<#import "template.ftl" as layout>
<@layout.registrationLayout displayMessage=false; section>
    <#if section = "header">
        <#if messageHeader??>
            ${kcSanitize(msg("${messageHeader}"))?no_esc}
        <#else>
            ${message.summary}
        </#if>
    <#elseif section = "form">
    <div id="kc-info-message">
        <p class="instruction">${message.summary}<#if requiredActions??><#list requiredActions>: <b><#items as reqActionItem>${kcSanitize(msg("requiredAction.${reqActionItem}"))?no_esc}<#sep>, </#items></b></#list><#else></#if></p>
        <#if !(skipLink??) && pageRedirectUri?has_content>
            <p><a href="${pageRedirectUri}">${msg("backToApplication")}</a></p>
        <#elseif !(skipLink??) && actionUri?has_content>
            <p><a href="${actionUri}">${msg("proceedWithAction")}</a></p>
        <#elseif !(skipLink??) && (client.baseUrl)?has_content>
            <p><a href="${client.baseUrl}">${msg("backToApplication")}</a></p>
        <#else>
            <p><a href="${properties.anamPortalUrl}">${msg("anamIrPortal")}</a></p>
        </#if>
    </div>
    </#if>
</@layout.registrationLayout>
