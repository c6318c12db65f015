"""Pictures that ship with scikit-image, by name: the export gate's named faces and the samples
the demo and tests make videos of (tools/demo/samples.py).

`astronaut` (Eileen Collins) and `camera` (the cameraman) each hold one real face; `chelsea`
(a cat) and `coffee` hold none; `pair` puts both faces side by side.
"""

from __future__ import annotations

import numpy as np

# name → who is in it (None: no face). `pair` holds two faces; see FaceRecognizer's choice rule.
PEOPLE = {"astronaut": "Collins", "camera": "Cameraman"}


def image(name: str) -> np.ndarray:
    """An RGB uint8 image by name: astronaut, camera, chelsea, coffee or pair."""
    from skimage import data

    if name == "pair":
        return np.concatenate([image("astronaut"), image("camera")], axis=1)
    img = getattr(data, name)()
    if img.ndim == 2:
        img = np.stack([img] * 3, axis=-1)
    return np.ascontiguousarray(img[..., :3])
