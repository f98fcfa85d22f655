"""`primps preview` and `primps bench synth`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from primps.pipeline.config import SynthConfig
from primps.pipeline.synth import render_one
from primps.stages.cli import main


def test_preview_all_variants_grid(tmp_path, capsys):
    out = tmp_path / "sub" / "grid.png"
    assert main(["preview", "--variant", "all", "--n", "3", "--resolution", "32", "--seed", "1",
                 "--out", str(out)]) == 0
    img = np.asarray(Image.open(out))
    pad, label = 2, 96  # a white label margin on the left names each row's variant
    assert img.shape == (4 * (32 + pad) + pad, label + 3 * (32 + pad) + pad, 3)
    assert (img[:, :label] < 128).any()  # some label text
    # row 4 (primitives-ps), column 2 is sample index 1 under seed 1
    y, x = pad + 3 * (32 + pad), label + pad + 1 * (32 + pad)
    assert np.array_equal(img[y:y + 32, x:x + 32], render_one(SynthConfig(height=32, width=32), 1, 1))
    assert [p.name for p in out.parent.iterdir()] == ["grid.png"]  # no temporary left behind
    assert "grid.png" in capsys.readouterr().out


def test_preview_one_variant_with_config_nonsquare(tmp_path):
    cfgfile = tmp_path / "params.yaml"
    cfgfile.write_text("synth:\n  variant: primitives\n  n_shapes: 5\n")
    out = tmp_path / "g.png"
    assert main(["preview", "--n", "4", "--resolution", "24x40", "--config", str(cfgfile), "--out", str(out)]) == 0
    img = np.asarray(Image.open(out))
    assert img.shape == (2 * 26 + 2, 2 * 42 + 2, 3)
    ref = render_one(SynthConfig(variant="primitives", n_shapes=5, height=24, width=40), 0, 0)
    assert np.array_equal(img[2:26, 2:42], ref)


@pytest.mark.parametrize("argv, needle", [
    (["--variant", "nope"], "--variant"),
    (["--resolution", "8"], "height"),
    (["--n", "0"], "--n"),
    (["--n-shapes", "900"], "n_shapes"),
    (["--config", "/no/such/file.yaml"], "not found"),
])
def test_preview_usage_errors_exit_2(tmp_path, capsys, argv, needle):
    out = tmp_path / "x.png"
    assert main(["preview", "--out", str(out), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_preview_bad_config_key(tmp_path, capsys):
    cfgfile = tmp_path / "s.yaml"
    cfgfile.write_text("n_shape: 3\n")
    assert main(["preview", "--config", str(cfgfile), "--out", str(tmp_path / "x.png")]) == 2
    assert "n_shape" in capsys.readouterr().err


def test_bench_synth_prints_one_json_line(capsys):
    assert main(["bench", "synth", "--resolution", "32", "--n", "5"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1
    rec = json.loads(lines[0])
    assert rec["n"] == 5 and rec["height"] == 32 and rec["ms_per_img"] > 0 and rec["img_per_s"] > 0
    assert abs(rec["ms_per_img"] * rec["img_per_s"] - 1000) < 50


def test_bench_synth_bad_variant(capsys):
    assert main(["bench", "synth", "--variant", "x", "--n", "1"]) == 2


REF = Path(__file__).resolve().parents[2] / "shared" / "reference" / "official-256"
needs_ref = pytest.mark.skipif(not (REF / "primitives-A.tar").is_file(),
                               reason=f"reference images not found at {REF} (../shared is outside the repository)")


@needs_ref
def test_preview_reference_rows_above_ours(tmp_path):
    out = tmp_path / "side.png"
    assert main(["preview", "--variant", "all", "--n", "2", "--reference", str(REF), "--out", str(out)]) == 0
    img = np.asarray(Image.open(out))
    pad, s = 2, 256
    label = img.shape[1] - (2 * (s + pad) + pad)  # the label margin grows with the font, which scales with s
    assert img.shape[0] == 8 * (s + pad) + pad and label >= 96
    for r in range(8):  # every row has its label: dark text in the white margin, within the row's band
        band = img[pad + r * (s + pad):(r + 1) * (s + pad), :label]
        dark = band.min(axis=2) < 100
        assert dark.sum() > 50 and dark.any(axis=1).sum() >= s // 16  # text at least 1/16 of the image tall
    from primps.pipeline.reference import load_reference

    ref, _ = load_reference(REF / "primitives-s-A.tar", (s, s))
    y, x = pad + 4 * (s + pad), label + pad  # row 5: reference primitives-s, image 0
    assert np.array_equal(img[y:y + s, x:x + s], ref[0])
    y += s + pad  # row 6: ours
    assert np.array_equal(img[y:y + s, x:x + s], render_one(SynthConfig(variant="primitives-s"), 0, 0))


@needs_ref
def test_preview_reference_resized_by_the_rule(tmp_path, capsys):
    """At 64^2 the official reference rows are set A area-downsized to 64; a non-square size is refused."""
    from primps.pipeline import lookrule
    from primps.pipeline.reference import load_reference

    out = tmp_path / "x.png"
    assert main(["preview", "--variant", "primitives", "--n", "2", "--resolution", "64", "--reference",
                 str(REF / "primitives-A.tar"), "--out", str(out)]) == 0
    img = np.asarray(Image.open(out))
    ref = lookrule.area_downsize(load_reference(REF / "primitives-A.tar", (256, 256))[0][:2], 64)
    pad = 2
    label = img.shape[1] - (2 * (64 + pad) + pad)
    assert np.array_equal(img[pad:pad + 64, label + pad:label + pad + 64], ref[0])
    bad = tmp_path / "y.png"
    assert main(["preview", "--variant", "primitives", "--resolution", "64x32", "--reference",
                 str(REF / "primitives-A.tar"), "--out", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert "256x256" in err and len(err.splitlines()) == 1 and not bad.exists()


def test_preview_preset_clean(tmp_path):
    out = tmp_path / "c.png"
    assert main(["preview", "--variant", "primitives", "--n", "1", "--resolution", "32", "--preset", "clean",
                 "--n-shapes", "0", "--out", str(out)]) == 0
    img = np.asarray(Image.open(out))[2:34, 2:34]
    assert np.array_equal(img, render_one(SynthConfig(variant="primitives", height=32, width=32, n_shapes=0,
                                                      grey_background=False, sorted_line_endpoints=False,
                                                      particle_bounds="image", salient_rect_by_corner=False,
                                                      salient_mask_per_channel=False), 0, 0))


def test_render_preset_reaches_the_config(tmp_path, capsys):
    from primps.pipeline.config import SYNTH_PRESETS as PRESETS
    from primps.pipeline.render import make_spec

    spec = make_spec(preset="clean", resolution="32", root=tmp_path / "d", manifest_dir=tmp_path / "m")
    assert all(getattr(spec.config, k) == v for k, v in PRESETS["clean"].items())
    assert spec.dataset_id != make_spec(resolution="32", root=tmp_path / "d", manifest_dir=tmp_path / "m").dataset_id
    with pytest.raises(SystemExit) as exc:  # an unknown preset is a parse error: one line, exit 2
        main(["render", "--preset", "dirty", "-n", "2", "--root", str(tmp_path / "d"),
              "--manifest-dir", str(tmp_path / "m"), "--workers", "0"])
    assert exc.value.code == 2
    assert "preset" in capsys.readouterr().err and not (tmp_path / "d").exists()
