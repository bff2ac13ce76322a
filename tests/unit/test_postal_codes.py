"""Postal codes (issue 14 §1): the catalog, the importer of the official layout, the JSON endpoint and
the form's check of CP against Estado."""
from __future__ import annotations

from pathlib import Path

import pytest

from registro.domain import postal
from registro.domain.postal import PostalCatalog, form_state
from registro.ops.postal import ImportError_, import_file, main, read_official
from tests.support.registration import csrf_token, mexican_form

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "CPdescarga-muestra.txt"


@pytest.fixture(scope="module")
def imported(tmp_path_factory) -> PostalCatalog:
    target = tmp_path_factory.mktemp("catalogo") / "cp.sqlite3"
    with FIXTURE.open(encoding="latin-1", newline="") as stream:
        assert import_file(stream, target) == 9
    return PostalCatalog.open(target)


@pytest.fixture(scope="module")
def bundled() -> PostalCatalog:
    return PostalCatalog.open()


def test_the_fixture_is_latin1_with_crlf_like_the_official_download():
    raw = FIXTURE.read_bytes()
    assert b"\r\n" in raw and "Álvaro Obregón".encode("latin-1") in raw
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")


def test_import_keeps_accents_and_every_colonia_of_a_code(imported):
    found = imported.lookup("62577")
    assert found.state == "Morelos" and found.municipalities == ("Jiutepec",) and found.localities == ("Jiutepec",)
    assert found.colonias == ("Ampliación Chiconcuac", "Lomas de Cuernavaca (Peñasco)", "Niños Héroes")
    assert imported.lookup("01000").as_json() == {"cp": "01000", "estado": "Ciudad de México",
                                                   "municipios": ["Álvaro Obregón"],
                                                   "localidades": ["Ciudad de México"], "colonias": ["San Ángel"]}


def test_the_state_of_mexico_takes_the_forms_name(imported):
    assert imported.lookup("50000").state == "Estado de México"
    assert form_state("Yucatan") == "Yucatán" and form_state("Narnia") == ""


def test_a_settlement_without_city_offers_its_municipality_as_locality(imported):
    assert imported.lookup("20310").localities == ("Aguascalientes",)


def test_unknown_or_malformed_codes_are_not_found(imported):
    assert imported.lookup("99999") is None
    for code in ("", "6700", "067000", "ABCDE", "06 70"):
        assert imported.lookup(code) is None


def test_the_importer_refuses_a_file_of_another_layout(tmp_path):
    with pytest.raises(ImportError_, match="encabezado"):
        list(read_official(["cp,colonia,estado", "06700,Roma Norte,CDMX"]))
    with pytest.raises(ImportError_, match="columnas"):
        list(read_official(["d_codigo|d_asenta|d_estado"]))
    target = tmp_path / "cp.sqlite3"
    target.write_bytes(b"catalogo anterior")
    assert main(["importar", str(tmp_path / "no-existe.txt"), "--salida", str(target)]) == 1
    assert target.read_bytes() == b"catalogo anterior"  # a failed import leaves the previous catalog


def test_the_command_imports_and_answers(tmp_path, capsys):
    target = tmp_path / "cp.sqlite3"
    assert main(["importar", str(FIXTURE), "--salida", str(target)]) == 0
    assert main(["consultar", "97000", "--catalogo", str(target)]) == 0
    assert '"Mérida Centro"' in capsys.readouterr().out


def test_the_bundled_catalog_is_sepomex_2018(bundled):
    assert bundled.size == 145468
    assert bundled.lookup("06700").colonias == ("Roma Norte",)
    assert bundled.lookup("44100").state == "Jalisco"


def test_mismatch_tells_why(bundled):
    assert postal.mismatch(bundled, "44100", "Jalisco") is None
    assert postal.mismatch(bundled, "44100", "Sonora") == postal.OTHER_STATE
    assert postal.mismatch(bundled, "99999", "Jalisco") == postal.NOT_IN_CATALOG


# --- the endpoint and the form ------------------------------------------------------------------
def test_the_json_endpoint(client):
    r = client.get("/registro/cp/06700")
    assert r.status_code == 200 and r.json["encontrado"] and r.json["estado"] == "Ciudad de México"
    assert r.json["colonias"] == ["Roma Norte"]
    missing = client.get("/registro/cp/99999")
    assert missing.status_code == 404 and missing.json == {"cp": "99999", "encontrado": False}


def test_the_form_offers_the_enhancement_but_works_without_it(client):
    page = client.get("/registro").get_data(as_text=True)
    assert 'data-cp-url="/registro/cp/00000"' in page and "js/codigo-postal.js" in page
    assert 'id="cp-resultado"' in page


def _post(client, **changes):
    page = client.get("/registro").get_data(as_text=True)
    return client.post("/registro", data=mexican_form(csrf_token=csrf_token(page), **changes))


def test_a_cp_of_another_state_asks_to_confirm_instead_of_blocking(client, fakes):
    r = _post(client, estado="Sonora")
    page = r.get_data(as_text=True)
    assert r.status_code == 200 and "pertenece a otra entidad federativa" in page
    assert 'name="cp_confirmado"' in page and not fakes.identity.accounts
    r = _post(client, estado="Sonora", cp_confirmado="y")
    assert r.status_code == 302
    (account,) = fakes.identity.accounts.values()
    assert account.attr("cp_no_coincide") == postal.OTHER_STATE and account.attr("estado") == "Sonora"


def test_a_cp_missing_from_the_catalog_asks_to_confirm(client, fakes):
    page = _post(client, codigo_postal="99999").get_data(as_text=True)
    assert "No encontramos este código postal en el catálogo de SEPOMEX" in page
    assert _post(client, codigo_postal="99999", cp_confirmado="y").status_code == 302
    (account,) = fakes.identity.accounts.values()
    assert account.attr("cp_no_coincide") == postal.NOT_IN_CATALOG


def test_a_matching_cp_is_not_flagged(client, fakes):
    assert _post(client).status_code == 302
    (account,) = fakes.identity.accounts.values()
    assert account.attr("cp_no_coincide") == ""


def test_foreign_postal_codes_are_not_checked_against_the_catalog(client, fakes):
    from tests.support.registration import foreign_form
    page = client.get("/registro").get_data(as_text=True)
    assert client.post("/registro", data=foreign_form(csrf_token=csrf_token(page))).status_code == 302
