"""Video files end to end through the engine: real model, real clips made from real photos, real FFmpeg."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from animegan import (
    Engine,
    InvalidOptionError,
    UnsupportedVideoError,
    VideoOptions,
    VideoTooLargeError,
    convert_video,
    probe_video,
)
from animegan.quality import psnr
from animegan.resample import fit_within, resize
from animegan.temporal import flicker
from animegan.video import read_frames
from tests.conftest import make_settings
from tests.video_clips import make_clip


def _f32(frame: np.ndarray) -> np.ndarray:
    return frame.astype(np.float32) / 255.0


def test_pan_clip_keeps_frames_fps_size_and_copies_audio(engine: Engine, clips: dict[str, Path], tmp_path: Path) -> None:
    src, dst = clips["pan_aac"], tmp_path / "out.mp4"
    seen: list[tuple[float, str]] = []
    result = convert_video(engine, src, dst, VideoOptions("cute", max_side=160), lambda f, m: seen.append((f, m)))
    info_in, info_out = probe_video(src, engine.settings), probe_video(dst, engine.settings)
    assert (info_out.width, info_out.height, info_out.fps) == (160, 120, Fraction(12))
    assert result.frames == info_in.frames == 24
    assert sum(1 for _ in read_frames(dst)) == 24
    assert result.audio == "copied" and info_out.audio_codec == "aac"
    with av.open(str(dst)) as c:
        a = c.streams.audio[0]
        assert abs(float(a.duration * a.time_base) - 2.0) < 0.1
    # Progress: monotone fractions ending at 1, messages carry the frame count and an ETA.
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert any("frame 12/24" in m and "ETA" in m for _, m in seen)
    # Frames are stylized: the first output frame (no history yet) matches the model on the first input frame.
    first_in, first_out = next(read_frames(src)), next(read_frames(dst))
    expected = engine.stylizer("cute")(_f32(first_in))
    assert psnr(_f32(first_out), expected) > 30
    assert psnr(_f32(first_out), _f32(first_in)) < psnr(_f32(first_out), expected) - 8


def test_pcm_audio_is_transcoded_and_side_by_side_doubles_width(engine: Engine, clips: dict[str, Path], tmp_path: Path) -> None:
    dst = tmp_path / "sbs.mp4"
    result = convert_video(engine, clips["pan_pcm"], dst, VideoOptions("cute", max_side=128, side_by_side=True, smoothing=0))
    info = probe_video(dst, engine.settings)
    assert (result.audio, info.audio_codec) == ("transcoded", "aac")
    assert (info.width, info.height, result.frames) == (320, 120, 24)
    frame_in, frame_out = next(read_frames(clips["pan_pcm"])), next(read_frames(dst))
    assert psnr(_f32(frame_out[:, :160]), _f32(frame_in)) > 30  # left: the original
    h, w = fit_within(120, 160, 128)
    styled = resize(engine.stylizer("cute")(resize(_f32(frame_in), h, w)), 120, 160)
    assert psnr(_f32(frame_out[:, 160:]), styled) > 28  # right: stylized at 128 px, resized back


def test_webm_output_uses_vp9_and_opus(engine: Engine, clips: dict[str, Path], tmp_path: Path) -> None:
    result = convert_video(engine, clips["pan_aac"], tmp_path / "out.webm", VideoOptions("cute", max_side=96))
    info = probe_video(result.path, engine.settings)
    assert (info.video_codec, info.audio_codec, result.audio) == ("vp9", "opus", "transcoded")
    assert sum(1 for _ in read_frames(result.path)) == 24


def test_display_rotation_is_kept(engine: Engine, photos: Path, tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "rot.mp4", photos / "city_tokyo_street.jpg", frames=4, audio=None, rotation=90)
    result = convert_video(engine, clip, tmp_path / "out.mp4", VideoOptions("cute", max_side=96))
    with av.open(str(clip)) as a, av.open(str(result.path)) as b:
        assert next(a.decode(video=0)).rotation == next(b.decode(video=0)).rotation == 90


def test_smoothing_lowers_flicker_on_a_static_clip(engine: Engine, clips: dict[str, Path], tmp_path: Path) -> None:
    raw = convert_video(engine, clips["static"], tmp_path / "raw.mp4", VideoOptions("cute", max_side=160, smoothing=0))
    smooth = convert_video(engine, clips["static"], tmp_path / "smooth.mp4", VideoOptions("cute", max_side=160))
    f_raw, f_smooth = flicker(read_frames(raw.path)), flicker(read_frames(smooth.path))
    print(f"flicker (0..255): input {flicker(read_frames(clips['static'])):.3f}, raw {f_raw:.3f}, smoothed {f_smooth:.3f}")
    assert f_smooth < 0.8 * f_raw
    # Smoothing must not wash the style out: the smoothed frames stay close to the raw ones.
    mid_raw, mid_smooth = list(read_frames(raw.path))[12], list(read_frames(smooth.path))[12]
    assert psnr(_f32(mid_raw), _f32(mid_smooth)) > 28


def test_scene_cut_resets_the_history(engine: Engine, clips: dict[str, Path], tmp_path: Path) -> None:
    smooth = convert_video(engine, clips["cut"], tmp_path / "smooth.mp4", VideoOptions("cute", max_side=160))
    raw = convert_video(engine, clips["cut"], tmp_path / "raw.mp4", VideoOptions("cute", max_side=160, smoothing=0))
    assert smooth.scene_cuts == 1
    # The first frame of the new shot carries nothing of the old one: it equals the unsmoothed frame.
    after_cut = 12
    a, b = list(read_frames(smooth.path))[after_cut], list(read_frames(raw.path))[after_cut]
    assert psnr(_f32(a), _f32(b)) > 35


def test_bad_inputs_raise_clear_errors_and_leave_no_file(engine: Engine, clips: dict[str, Path], tmp_path: Path,
                                                         photos: Path) -> None:
    opts = VideoOptions("cute", max_side=96)
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8)
    with pytest.raises(UnsupportedVideoError, match=r"junk\.mp4"):
        convert_video(engine, junk, tmp_path / "o1.mp4", opts)
    with pytest.raises(UnsupportedVideoError, match="still image"):
        convert_video(engine, photos / "still_coffee_cup.png", tmp_path / "o2.mp4", opts)
    with pytest.raises(UnsupportedVideoError, match="does not exist"):
        convert_video(engine, tmp_path / "missing.mp4", tmp_path / "o3.mp4", opts)
    with pytest.raises(InvalidOptionError, match=r"\.avi"):
        convert_video(engine, clips["pan_aac"], tmp_path / "o4.avi", opts)
    models = str(engine.settings.model_cache_dir)  # the session's: derived models and measured choices are no outputs
    small = Engine(make_settings(tmp_path, ANIMEGAN_VIDEO_MAX_FRAMES="10", ANIMEGAN_VIDEO_MAX_PIXELS="10000",
                                 ANIMEGAN_MODEL_CACHE_DIR=models))
    with pytest.raises(VideoTooLargeError, match=r"160×120.*ANIMEGAN_VIDEO_MAX_PIXELS"):
        convert_video(small, clips["pan_aac"], tmp_path / "o5.mp4", opts)
    fewer = Engine(make_settings(tmp_path, ANIMEGAN_VIDEO_MAX_FRAMES="10", ANIMEGAN_MODEL_CACHE_DIR=models))
    with pytest.raises(VideoTooLargeError, match=r"24 frames.*limit of 10"):
        convert_video(fewer, clips["pan_aac"], tmp_path / "o6.mp4", opts)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["junk.mp4"]  # no outputs, no leftover partial files


def test_video_options_are_checked() -> None:
    with pytest.raises(InvalidOptionError, match="smoothing"):
        VideoOptions("cute", smoothing=1.0)
    with pytest.raises(InvalidOptionError, match="max_side"):
        VideoOptions("cute", max_side=10)
