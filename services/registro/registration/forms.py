"""The registration form of SPEC §4 (Flask-WTF, CSRF on): validation and normalization only.

Every rule is enforced here whatever the browser did (the page works without JavaScript);
messages are Spanish and attached to the field they concern. Duplicate accounts are a
business rule and are checked by registration/service.py.
"""
from __future__ import annotations

from functools import lru_cache

from email_validator import EmailNotValidError, validate_email
from markupsafe import Markup
from wtforms import BooleanField, EmailField, HiddenField, SelectField, StringField, SubmitField
from wtforms.fields.choices import Choice, SelectChoice
from wtforms.widgets import Select

from keycloak_ext.catalog import USER_TYPES

from registro import i18n
from registro.container import adapters
from registro.domain import geography, identifiers
from registro.registration import postal_check
from registro.applicant import privacy_forms as privacy
from registro.domain.identifiers import IdentifierInvalid
from registro.registration.service import Applicant
from registro.web.form_base import Form

LEGEND = "Los campos marcados con (*) son de carácter obligatorio."
RFC_CONFIRM_LABEL = "Confirmo que mi RFC es correcto"

# The value is held by a registration still being made (perhaps this person's own, interrupted): an
# abandoned one is finished or cancelled within two minutes (registration/reconcile.py).
IN_FLIGHT_MESSAGE = ("Hay un registro en curso con este dato. Si usted acaba de enviar el formulario, revise su "
                     "correo; si no le llega, intente de nuevo en dos minutos. Sus datos no se perdieron.")
DUPLICATE_MESSAGES = {
    "curp": "Ya existe una cuenta o una solicitud en trámite con esta CURP. Si es suya, use el enlace del correo "
            "de confirmación o «¿Olvidó su contraseña?»; si no la reconoce, comuníquese con la ANAM.",
    "rfc": "Ya existe una cuenta o una solicitud en trámite con este RFC. Si es suya, use el enlace del correo "
           "de confirmación o «¿Olvidó su contraseña?»; si no la reconoce, comuníquese con la ANAM.",
    "pasaporte": "Ya existe una cuenta o una solicitud en trámite con este pasaporte y país. Si es suya, use el "
                 "enlace del correo de confirmación o «¿Olvidó su contraseña?»; si no la reconoce, comuníquese "
                 "con la ANAM.",
    "email": "Ya existe una cuenta o una solicitud en trámite con este correo electrónico. Use otro correo o, si "
             "es suyo, el enlace del correo de confirmación o «¿Olvidó su contraseña?».",
}

REJECTED_MESSAGE = ("Acceso Único no pudo guardar este dato tal como está escrito. Revíselo: evite símbolos poco "
                    "comunes y textos muy largos, y presione «Registrar» de nuevo.")
# Keycloak's user-profile attribute → the form field a person typed it in.
_PROFILE_TO_FIELD = {"firstName": "nombre", "lastName": "apellidos", "email": "email"}

_MAX_TEXT = {"localidad": 100, "colonia": 100, "numero_exterior": 20, "calle": 150, "estado_extranjero": 100}


def _choices(pairs) -> list[SelectChoice]:
    return [SelectChoice(value, label) for value, label in pairs]


def _strip(value):
    return value.strip() if isinstance(value, str) else value


class RememberedOptions(Select):
    """wtforms' Select with each `<option>` tag built once per process: the form's selects carry
    ≈ 300 options (the country list alone ≈ 250), and building their tags anew (attribute escaping,
    Markup formatting) was the largest part of the CPU of a GET of the form. The same (value, label,
    selected) always gives the same tag, so the tag is remembered; anything unusual (render_kw,
    extra attributes, a label that is not a plain string) is built as before."""

    @classmethod
    def render_option(cls, choice, **kwargs):
        label = choice.label
        if (kwargs or choice.render_kw or type(choice.value) is not str
                or type(label) not in (str, Markup)):
            return super().render_option(choice, **kwargs)
        return _option_tag(choice.value, label, type(label) is Markup, bool(choice.selected))


@lru_cache(maxsize=4096)  # ≈ 300 options × 2 languages, plus the selected variants
def _option_tag(value: str, label: str, is_markup: bool, selected: bool) -> Markup:
    # is_markup is part of the key: Markup("a&amp;b") and "a&amp;b" are equal strings that escape differently.
    return Select.render_option(Choice(value, Markup(label) if is_markup else label, selected, None))


class RegistrationForm(Form):
    # Field order = the manual's order; TAX ID and Pasaporte follow "¿Es extranjero?", which reveals them.
    tipo_usuario = SelectField("Tipo de usuario", choices=_choices([("", "Seleccione una opción")] +
                                                            [(t.slug, t.label) for t in USER_TYPES]),
                               validate_choice=False, widget=RememberedOptions())
    es_extranjero = BooleanField("¿Es extranjero?")
    tax_id = StringField("TAX ID", filters=[_strip])
    pasaporte = StringField("Pasaporte", filters=[_strip])
    curp = StringField("CURP", filters=[_strip])
    rfc = StringField("RFC", filters=[_strip])
    rfc_confirmado = BooleanField(RFC_CONFIRM_LABEL)
    nombre = StringField("Nombre", filters=[_strip])
    apellidos = StringField("Apellidos", filters=[_strip])
    email = EmailField("Correo electrónico", filters=[_strip])
    pais = SelectField("País", choices=_choices(geography.COUNTRIES), default=geography.MEXICO,
                       validate_choice=False, widget=RememberedOptions())
    estado = SelectField("Estado", choices=_choices([("", "Seleccione una entidad federativa")] +
                                                    [(name, name) for name in geography.ENTIDAD_NAMES]),
                         validate_choice=False, widget=RememberedOptions())
    estado_extranjero = StringField("Estado, provincia o región", filters=[_strip])
    localidad = StringField("Localidad", filters=[_strip])
    colonia = StringField("Colonia", filters=[_strip])
    codigo_postal = StringField("Código postal", filters=[_strip])
    numero_exterior = StringField("Número exterior", filters=[_strip])
    calle = StringField("Calle", filters=[_strip])
    cp_confirmado = BooleanField(postal_check.CP_CONFIRM_LABEL)
    acepta_aviso = BooleanField(privacy.PRIVACY_LABEL)
    aviso_version = HiddenField()
    submit = SubmitField("Registrar")

    # Set by validate(): the RFC's check digit does not compute, so the confirmation box is shown.
    rfc_needs_confirmation: bool = False
    cp_needs_confirmation: bool = False  # the CP is not in the catalog or is another state's
    _clean: dict

    def validate(self, extra_validators=None) -> bool:
        super().validate(extra_validators)  # CSRF and filters; the rules below carry their own messages
        self._clean = {}
        foreign = bool(self.es_extranjero.data)
        self._check_choice(self.tipo_usuario, {t.slug for t in USER_TYPES}, "Seleccione el tipo de usuario.")
        self._check_identifiers(foreign)
        self._check(self.nombre, lambda v: identifiers.validate_name(v, "Nombre"))
        self._check(self.apellidos, lambda v: identifiers.validate_name(v, "Apellidos"))
        self._check(self.email, _normalized_email)
        self._check_place(foreign)
        for name, limit in _MAX_TEXT.items():
            if name == "estado_extranjero":
                continue
            self._check(getattr(self, name), lambda v, n=name, m=limit: _required_text(v, n, m))
        postal_check.check(self, adapters().postal)
        privacy.check(self, adapters().privacy)
        return not self.errors

    # --- rules ---------------------------------------------------------------------------------
    def _check_identifiers(self, foreign: bool) -> None:
        if foreign:
            self._check(self.tax_id, identifiers.validate_tax_id)
            self._check(self.pasaporte, identifiers.validate_passport)
        curp_given, rfc_given = bool(self.curp.data), bool(self.rfc.data)
        if not foreign or curp_given:
            self._check(self.curp, lambda v: identifiers.validate_curp(v) if v else _missing("Escriba su CURP."))
        if not foreign or rfc_given:
            self._check(self.rfc, lambda v: identifiers.validate_rfc(v) if v else _missing("Escriba su RFC."))
        rfc_check = self._clean.pop("rfc", None)
        if rfc_check is not None:
            self._clean["rfc"] = rfc_check.rfc
            if not rfc_check.check_digit_ok:
                self.rfc_needs_confirmation = True
                self._clean["rfc_digito_no_coincide"] = True
                if not self.rfc_confirmado.data:
                    self.rfc_confirmado.errors.append(
                        "El dígito verificador de este RFC no coincide con el cálculo oficial. Revíselo; si es "
                        "correcto tal como aparece en su constancia, marque «Confirmo que mi RFC es correcto» y "
                        "presione «Registrar» de nuevo.")
        curp, rfc = self._clean.get("curp"), self._clean.get("rfc")
        if curp and rfc and not identifiers.birth_dates_agree(curp, rfc):
            self.rfc.errors.append("La fecha de nacimiento del RFC no coincide con la de la CURP.")

    def _check_place(self, foreign: bool) -> None:
        country = self.pais.data or ""
        if foreign:
            if country not in geography.COUNTRY_NAMES:
                self.pais.errors.append("Seleccione su país.")
            elif country == geography.MEXICO:
                self.pais.errors.append("Si es extranjero, seleccione un país distinto de México.")
            else:
                self._clean["pais"] = country
            self._check(self.estado_extranjero,
                        lambda v: _required_text(v, "estado_extranjero", _MAX_TEXT["estado_extranjero"]))
            self._clean["estado"] = self._clean.pop("estado_extranjero", "")
            self._check(self.codigo_postal, identifiers.validate_foreign_postal_code)
        else:
            if country != geography.MEXICO:
                self.pais.errors.append("El país de un solicitante mexicano es México; si es extranjero, marque "
                                        "«¿Es extranjero?».")
            self._clean["pais"] = geography.MEXICO
            self._check_choice(self.estado, set(geography.ENTIDAD_NAMES), "Seleccione su entidad federativa.")
            self._check(self.codigo_postal, identifiers.validate_mexican_postal_code)

    def _check(self, field, rule) -> None:
        if field.errors:
            return
        try:
            self._clean[field.name] = rule(field.data or "")
        except IdentifierInvalid as exc:
            field.errors.append(exc.message)

    def _check_choice(self, field, allowed: set[str], message: str) -> None:
        if field.data in allowed:
            self._clean[field.name] = field.data
        else:
            field.errors.append(message)

    # --- results -------------------------------------------------------------------------------
    def applicant(self) -> Applicant:
        """The normalized values; call only after validate() returned True."""
        c = self._clean
        return Applicant(
            tipo_usuario=c["tipo_usuario"], es_extranjero=bool(self.es_extranjero.data),
            curp=c.get("curp", ""), rfc=c.get("rfc", ""), tax_id=c.get("tax_id", ""), pasaporte=c.get("pasaporte", ""),
            nombre=c["nombre"], apellidos=c["apellidos"], email=c["email"], pais=c["pais"], estado=c["estado"],
            localidad=c["localidad"], colonia=c["colonia"], codigo_postal=c["codigo_postal"],
            numero_exterior=c["numero_exterior"], calle=c["calle"],
            rfc_digito_no_coincide=bool(c.get("rfc_digito_no_coincide")),
            cp_no_coincide=c.get("cp_no_coincide", ""), idioma=i18n.current(),
            aviso_version=c.get("aviso_version", ""), aviso_sha256=c.get("aviso_sha256", ""),
        )

    def refuse_duplicates(self, fields: list[str], *, in_flight: bool = False) -> None:
        for name in fields:
            getattr(self, name).errors.append(IN_FLIGHT_MESSAGE if in_flight else DUPLICATE_MESSAGES[name])

    def refuse_rejected(self, attributes: tuple[str, ...], foreign: bool) -> None:
        """Keycloak refused values this form accepted: each refused attribute's error goes next to its
        field, the values stay on the page (never a 500). Unnamed attributes land on Nombre."""
        named = [_PROFILE_TO_FIELD.get(a, a) for a in attributes]
        # A Mexican's username is the RFC; a foreigner's is generated (no field of theirs).
        named = [("estado_extranjero" if foreign else n) if n == "estado" else
                 ("rfc" if not foreign else n) if n == "username" else n for n in named]
        targets = [getattr(self, n) for n in named if n in self._fields and n != "csrf_token"] or [self.nombre]
        for field in dict.fromkeys(targets):
            field.errors.append(REJECTED_MESSAGE)

    def first_error_field(self):
        """The first field (in page order) with an error: it receives the focus."""
        return next((f for f in self if f.errors and f.name != "csrf_token"), None)


def _missing(message: str):
    raise IdentifierInvalid(message)


_TEXT_LABELS = {"localidad": "Localidad", "colonia": "Colonia", "numero_exterior": "Número exterior",
                "calle": "Calle", "estado_extranjero": "Estado, provincia o región"}


def _required_text(value: str, name: str, limit: int) -> str:
    text = " ".join(value.split())
    label = _TEXT_LABELS[name]
    if not text:
        raise IdentifierInvalid(f"Escriba {'su' if name != 'numero_exterior' else 'el'} {label.lower()}.")
    if identifiers.keycloak_length(text) > limit:
        raise IdentifierInvalid(f"El campo {label} admite como máximo {limit} caracteres."
                                + (" Algunos símbolos cuentan como dos." if len(text) <= limit else ""))
    if any(ord(c) < 32 or c in "<>" for c in text):
        raise IdentifierInvalid(f"El campo {label} contiene caracteres no permitidos.")
    return text


def _normalized_email(value: str) -> str:
    if not value:
        raise IdentifierInvalid("Escriba su correo electrónico.")
    try:
        info = validate_email(value, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError:
        raise IdentifierInvalid("Escriba un correo electrónico válido, por ejemplo nombre@dominio.com.") from None
    # The ASCII form (an internationalised domain as punycode, "xn--…"): what SMTP servers and
    # Keycloak's email validator agree on; with allow_smtputf8=False the local part is ASCII already.
    return (info.ascii_email or info.normalized).lower()
