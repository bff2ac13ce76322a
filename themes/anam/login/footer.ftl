<#-- The footer under the login card: who runs the service (text from messages). -->
<#macro content>
    <p class="anam-pie">${msg("anamPie")}</p>
</#macro>
