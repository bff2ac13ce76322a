"""What the quality check can find wrong with a photo (quality.py measures, photo_answer.py words it).
A module of its own so that the web worker can word an answer without importing OpenCV."""
BLURRY = "borrosa"
GLARE = "reflejo"
TOO_SMALL = "pocos_pixeles"
