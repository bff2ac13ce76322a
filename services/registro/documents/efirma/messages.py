"""What the applicant reads about an e.firma signature, in Spanish (their English is in the catalog:
services/babel.cfg lists this module). Messages with a date in them are composed where they are used."""
from __future__ import annotations

NOT_OURS = ("La firma no corresponde a la responsiva de su solicitud. Descargue la responsiva de nuevo e intente "
            "firmar otra vez.")
IS_CSD = ("El certificado es un sello digital (CSD), no una e.firma. Elija el certificado (.cer) y la clave privada "
          "(.key) de su e.firma.")
NOT_YOURS = "La e.firma no corresponde al RFC y la CURP de su solicitud. Use su propia e.firma."
NO_IDENTIFIERS = ("Su solicitud no tiene RFC y CURP, que la e.firma debe llevar: no es posible firmar con e.firma. "
                  "Cargue la responsiva firmada a mano.")
NOT_SAT = "El certificado no fue emitido por el SAT. Use el certificado (.cer) de su e.firma."
REVOKED = "Su e.firma fue revocada. Tramite una nueva en el SAT o cargue la responsiva firmada a mano."
EXPIRED_STATE = "La preparación de la firma expiró o no es válida. Presione «Firmar con e.firma» de nuevo."
NOT_A_CERTIFICATE = ("El archivo elegido como certificado (.cer) no es un certificado. Elija el archivo .cer de su "
                     "e.firma.")
NO_RESPONSIVA = "La responsiva no está disponible en este momento. Intente más tarde o comuníquese con la ANAM."
OTHER_CERTIFICATE = "El certificado no es el mismo con el que se preparó la firma. Intente firmar de nuevo."
BAD_SIGNATURE = "La firma recibida no es válida. Intente firmar de nuevo."
MISSING = "No se recibieron el certificado o la firma. Intente de nuevo."
UNAVAILABLE = "La firma con e.firma no está disponible. Cargue la responsiva firmada a mano."
STORAGE_DOWN = "No fue posible completar la firma en este momento. Intente de nuevo en unos minutos."
LINK_GONE = "Su enlace expiró o fue reemplazado. Solicite un enlace nuevo."
LINK_INVALID = "El enlace no es válido para esta solicitud."
SIGNED = "Se firmó la responsiva con su e.firma y se cargó como «Responsiva firmada»."
