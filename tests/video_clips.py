"""Tiny test videos made from real photos: a pan or a static (noisy) shot, with an optional sine-tone track."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image


def make_clip(path: Path, photo: Path, *, frames: int = 24, size: tuple[int, int] = (160, 120), fps: int = 12,
              motion: str = "pan", noise: float = 0.0, audio: str | None = "aac", cut_photo: Path | None = None,
              seed: int = 0, crf: int = 18, rotation: int = 0, keyframe_every: int | None = None) -> Path:
    """Write a clip: ``motion`` "pan" (window slides across the photo) or "static" (fixed window);
    ``noise`` is per-frame Gaussian sensor noise (0..255 units); ``audio`` "aac", "pcm" or None (a 440 Hz
    tone lasting the clip); ``cut_photo`` switches to another photo halfway (a scene cut); ``keyframe_every``
    sets the keyframe interval (frames)."""
    w, h = size
    rng = np.random.default_rng(seed)

    def canvas(p: Path) -> np.ndarray:
        img = Image.open(p).convert("RGB")
        scale = (h * 1.25) / img.height
        img = img.resize((max(round(img.width * scale), round(w * 1.6)), round(h * 1.25)), Image.Resampling.LANCZOS)
        return np.asarray(img)

    scenes = [canvas(photo)] + ([canvas(cut_photo)] if cut_photo else [])
    fmt = {".mp4": "mp4", ".mkv": "matroska", ".mov": "mov"}[path.suffix]
    with av.open(str(path), "w", format=fmt) as out:
        vs = out.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        vs.options = {"crf": str(crf), "preset": "veryfast"}
        if keyframe_every:
            vs.options = {**vs.options, "g": str(keyframe_every), "keyint_min": str(keyframe_every)}
        if rotation:
            vs.set_display_rotation(rotation)
        astream = None
        if audio:
            rate = 44100
            astream = out.add_stream("aac" if audio == "aac" else "pcm_s16le", rate=rate)
            astream.layout = "stereo"
        for i in range(frames):
            scene = scenes[min(i * len(scenes) // frames, len(scenes) - 1)]
            max_x = scene.shape[1] - w
            x = round(max_x * i / max(frames - 1, 1)) if motion == "pan" else max_x // 2
            crop = scene[(scene.shape[0] - h) // 2:(scene.shape[0] - h) // 2 + h, x:x + w].astype(np.float32)
            if noise:
                crop = crop + rng.normal(0, noise, crop.shape)
            frame = av.VideoFrame.from_ndarray(np.clip(crop, 0, 255).astype(np.uint8), format="rgb24")
            frame.pts = i
            for packet in vs.encode(frame):
                out.mux(packet)
        for packet in vs.encode(None):
            out.mux(packet)
        if astream is not None:
            rate = astream.codec_context.sample_rate
            seconds = Fraction(frames, fps)
            n = int(rate * seconds)
            t = np.arange(n) / rate
            tone = 0.3 * np.sin(2 * np.pi * 440 * t)
            chunk = 1024
            for s in range(0, n, chunk):
                part = tone[s:s + chunk]
                if audio == "aac":
                    data = np.stack([part, part]).astype(np.float32)
                    aframe = av.AudioFrame.from_ndarray(data, format="fltp", layout="stereo")
                else:
                    data = (np.stack([part, part], axis=1).reshape(1, -1) * 32767).astype(np.int16)
                    aframe = av.AudioFrame.from_ndarray(data, format="s16", layout="stereo")
                aframe.sample_rate = rate
                aframe.pts = s
                for packet in astream.encode(aframe):
                    out.mux(packet)
            for packet in astream.encode(None):
                out.mux(packet)
    return path
