"""What the applicant is told beside the field when a photo of an ID looks unreadable (SPEC: es-MX,
with the English of the app's catalog). An advice, never a refusal: the photo may be kept anyway."""
from __future__ import annotations

from registro.documents.reading.problems import BLURRY, GLARE, TOO_SMALL

MESSAGES = {
    BLURRY: "La foto está borrosa: los datos de la identificación podrían no leerse. Tome otra foto con buena "
            "luz, sin mover el teléfono, o consérvela si se lee bien.",
    GLARE: "La foto tiene un reflejo que tapa parte de la identificación. Tómela de nuevo sin flash y lejos de "
           "lámparas o ventanas, o consérvela si se lee bien.",
    TOO_SMALL: "La foto tiene poca resolución para leer la identificación. Acérquese para que la identificación "
               "ocupe casi toda la foto, o use la cámara con mayor resolución.",
}
KEEP_ANYWAY = "Conservar esta foto de todos modos"


def advice(problems: tuple[str, ...] | list[str]) -> list[str]:
    """The messages for `problems`, in a fixed order (pixels first: the cause of the others)."""
    return [MESSAGES[p] for p in (TOO_SMALL, BLURRY, GLARE) if p in problems]
