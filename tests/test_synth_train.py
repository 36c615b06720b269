"""Synthetic pages, CRAFT's truth maps, the OHEM loss and resumable training (short CPU runs)."""

import json
import shutil

import cv2
import numpy as np
import pytest
import torch

from bigocr.cli import main
from bigocr.detector import CRAFT, read_weights
from bigocr.dev.synth import affinity_quads, degrade, render_page, truth_maps
from bigocr.tiler.scan import open_scan
from bigocr.dev.train import TrainConfig, craft_loss, load_checkpoint, ohem_mse, save_checkpoint, train
from bigocr.dev.train.data import SynthCrops


def _square(x, y, s):
    return np.array([[x, y], [x + s, y], [x + s, y + s], [x, y + s]], np.float32)


def test_region_gaussian_peaks_at_each_character_and_affinity_between_neighbours():
    word = [_square(20, 20, 20), _square(44, 20, 20)]  # two characters of one word
    lone = [_square(120, 20, 20)]  # a one-character word far away
    region, affinity = truth_maps((80, 200), [word, lone])
    assert region.shape == (40, 100)
    for x in (15, 27, 65):  # character centres in map pixels
        assert region[15, x] > 0.95
    assert region[15, 21] < 0.5  # between the two characters
    assert affinity[15, 21] > 0.9  # the affinity box is centred on the gap
    assert affinity[15, 65] == 0 and affinity[15, 45] == 0  # no link to the other word


def test_the_link_between_two_letters_holds_over_half_their_height():
    """Narrower links (sigma 0.2) taught a fine-tuned CRAFT to split short words at a letter gap."""
    _, affinity = truth_maps((100, 200), [[_square(40, 20, 60), _square(100, 20, 60)]])
    gap = affinity[10:40, 50]  # map pixels: the letters are 30 tall, the gap between them at x = 50
    assert (gap > 0.4).mean() > 0.5


def test_affinity_quads_join_triangle_centres():
    a, b = _square(0, 0, 30), _square(40, 0, 30)
    (quad,) = affinity_quads([a, b])
    np.testing.assert_allclose(quad, [[15, 5], [55, 5], [55, 25], [15, 25]], atol=1e-5)


@pytest.mark.parametrize("layout", ["article", "form", "table", "receipt"])
def test_pages_have_words_whose_boxes_hold_the_ink(layout):
    rng = np.random.default_rng(1)
    page = degrade(render_page(700, 600, rng=rng, layout=layout, dpi=200), rng, strength=0)
    assert len(page.words) > 10
    ink = page.image[..., 0] < 128
    inside = np.zeros_like(ink)
    for w in page.words:
        x0, y0 = np.floor(w.quad.min(axis=0)).astype(int)
        x1, y1 = np.ceil(w.quad.max(axis=0)).astype(int)
        inside[max(y0, 0):y1 + 1, max(x0, 0):x1 + 1] = True
        assert all(c.shape == (4, 2) for c in w.chars) and len(w.chars) >= 1
    if layout == "article":  # no rules inside the text area except the headline rule
        assert (ink & inside).sum() / ink.sum() > 0.8


def test_skew_moves_the_boxes_with_the_page():
    for seed in range(40):
        rng = np.random.default_rng(seed)
        page = degrade(render_page(500, 500, rng=rng, layout="article", dpi=220), rng, strength=1.0)
        if "skew" in page.meta["degradations"] and "negative" not in page.meta["degradations"]:
            break
    gray = page.image.mean(axis=2)
    for w in page.words[:20]:
        c = w.chars[0].mean(axis=0)  # centre of the first character: on the character's ink or near it
        y, x = int(round(c[1])), int(round(c[0]))
        patch = gray[max(0, y - 4):y + 5, max(0, x - 4):x + 5]
        assert patch.min() < gray.mean() - 30


def test_ohem_keeps_positives_and_three_times_the_hardest_negatives():
    target = torch.zeros(1, 10, 10)
    target[0, 0, :2] = 1.0  # 2 positives
    pred = torch.zeros(1, 10, 10)
    pred[0, 5, :] = torch.arange(10, dtype=torch.float32) / 10  # negatives with growing error
    loss = ohem_mse(pred, target, torch.ones_like(target), min_negatives=0)
    hardest = sorted(((pred[0, 5] ** 2).tolist()), reverse=True)[:6]
    assert loss.item() == pytest.approx((2 * 1.0 + sum(hardest)) / 8, rel=1e-6)
    # Confidence weights the error.
    half = ohem_mse(pred, target, torch.full_like(target, 0.5), min_negatives=0)
    assert half.item() == pytest.approx(loss.item() / 2, rel=1e-6)


def test_a_small_craft_learns_a_fixed_batch():
    torch.manual_seed(0)
    data = SynthCrops(seed=3, crop=128)
    batch = [torch.stack(t) for t in zip(*(data[i] for i in range(2)))]
    model = CRAFT(0.25)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    losses = []
    for _ in range(30):
        scores, _ = model(batch[0])
        loss = craft_loss(scores, *batch[1:])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert np.mean(losses[-5:]) < 0.6 * np.mean(losses[:3]), losses


def test_training_resumes_exactly(tmp_path):
    common = dict(steps=4, batch=1, crop=64, width=0.125, warmup=1, checkpoint_every=2, log_every=2, device="cpu")
    train(TrainConfig(out=str(tmp_path / "a"), **common), log=lambda s: None)
    piece = TrainConfig(out=str(tmp_path / "b"), max_minutes=1e-9, **common)
    first = train(piece, log=lambda s: None)
    assert first["step"] == 1
    train(TrainConfig(out=str(tmp_path / "b"), **common), log=lambda s: None)
    a, b = CRAFT(0.125), CRAFT(0.125)
    load_checkpoint(tmp_path / "a" / "step-00000004", a)
    load_checkpoint(tmp_path / "b" / "step-00000004", b)
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(va, vb), k
    with pytest.raises(ValueError, match="other settings"):
        train(TrainConfig(out=str(tmp_path / "a"), **{**common, "crop": 96}), log=lambda s: None)
    assert not (tmp_path / "a" / "train.lock").exists()


def test_fine_tuning_keeps_the_batch_norm_statistics_and_training_from_scratch_learns_them(tmp_path):
    from bigocr.detector import save_weights

    torch.manual_seed(1)
    init = save_weights(CRAFT(0.125), tmp_path / "init.safetensors", name="init").path
    _, start = read_weights(init)
    common = dict(steps=2, batch=2, crop=64, width=0.125, warmup=1, log_every=1, device="cpu")
    for folder, config in (("tuned", {"init": str(init)}), ("scratch", {"seed": 1})):
        train(TrainConfig(out=str(tmp_path / folder), **common, **config), log=lambda s: None)
    tuned, scratch = CRAFT(0.125), CRAFT(0.125)
    load_checkpoint(tmp_path / "tuned" / "step-00000002", tuned)
    load_checkpoint(tmp_path / "scratch" / "step-00000002", scratch)
    stats = [k for k in start if k.endswith(("running_mean", "running_var"))]
    assert len(stats) > 30
    assert all(torch.equal(tuned.state_dict()[k], start[k]) for k in stats)  # frozen
    assert not torch.equal(tuned.state_dict()["basenet.slice1.0.weight"], start["basenet.slice1.0.weight"])  # learns
    assert not all(torch.equal(scratch.state_dict()[k], start[k]) for k in stats)


def test_a_run_folder_in_use_is_refused(tmp_path):
    import subprocess

    common = dict(steps=2, batch=1, crop=64, width=0.125, warmup=1, device="cpu")
    holder = subprocess.Popen(["sleep", "30"])
    try:
        (tmp_path / "run").mkdir()
        (tmp_path / "run" / "train.lock").write_text(f"{holder.pid}\n")
        with pytest.raises(ValueError, match=f"another bigocr train \\(pid {holder.pid}\\) is using this folder"):
            train(TrainConfig(out=str(tmp_path / "run"), **common), log=lambda s: None)
    finally:
        holder.kill()
        holder.wait()
    # The holder is gone: its lock is stale and the run goes ahead.
    assert train(TrainConfig(out=str(tmp_path / "run"), **common), log=lambda s: None)["step"] == 2
    assert not (tmp_path / "run" / "train.lock").exists()


def test_checkpoints_are_sharded_and_load_back(tmp_path):
    model = CRAFT(0.25)
    opt = torch.optim.AdamW(model.parameters())
    model(torch.randn(1, 3, 64, 64))[0].sum().backward()
    opt.step()
    path = save_checkpoint(tmp_path, 7, model, opt, {"width": 0.25}, shard_mb=1)
    shards = sorted(path.glob("*.safetensors"))
    assert len(shards) > 4 and all(p.stat().st_size <= 2**20 for p in shards)
    other, other_opt = CRAFT(0.25), torch.optim.AdamW(CRAFT(0.25).parameters())
    other_opt = torch.optim.AdamW(other.parameters())
    state = load_checkpoint(path, other, other_opt)
    assert state["step"] == 7
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), other.state_dict().values()))
    assert other_opt.state_dict()["param_groups"][0]["betas"] == opt.state_dict()["param_groups"][0]["betas"]


def test_train_command_exports_loadable_weights(tmp_path, capsys):
    code = main(["train", "--out", str(tmp_path / "run"), "--steps", "2", "--batch", "1", "--crop", "64",
                 "--width", "0.125", "--warmup", "1", "--device", "cpu", "--export", str(tmp_path / "w.safetensors")])
    assert code == 0
    weights, _ = read_weights(tmp_path / "w.safetensors")
    assert weights.width == 0.125 and weights.name == "bigocr-craft"
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert log[-1]["step"] == 2


def test_sample_command_writes_scan_and_truth(tmp_path, capsys):
    out = tmp_path / "s.tif"
    assert main(["sample", str(out), "--size", "900x1200", "--seed", "3"]) == 0
    scan = open_scan(out)
    assert scan.shape == (1200, 900)
    gt = json.loads((tmp_path / "s.gt.json").read_text())
    assert gt["width"] == 900 and gt["height"] == 1200 and len(gt["words"]) > 20
    assert main(["sample", str(out), "--size", "900x1200"]) == 5  # never overwritten unasked
    assert main(["sample", str(out), "--size", "huge"]) == 1


def test_weak_supervision_splits_words_and_scores_the_split():
    from bigocr.dev.synth.truth import gaussian_template
    from bigocr.dev.train.weak import confidence_map, pseudo_characters, word_confidence, word_crop

    assert word_confidence(5, 5) == 1.0 and word_confidence(8, 5) == 0.625 and word_confidence(4, 12) == 0.0
    # A straightened word crop 64 x 320 px whose region score (half size: 32 x 160) has 5 character blobs.
    blob = cv2.resize(gaussian_template(), (28, 28))
    region = np.zeros((32, 160), np.float32)
    for k in range(5):
        region[2:30, 4 + 31 * k:32 + 31 * k] = np.maximum(region[2:30, 4 + 31 * k:32 + 31 * k], blob)
    image = np.zeros((200, 600, 3), np.uint8)
    quad = np.float32([[100, 50], [420, 50], [420, 114], [100, 114]])
    crop, matrix = word_crop(image, quad)
    assert crop.shape[:2] == (64, 320)
    boxes, conf = pseudo_characters(region, matrix, "hello", crop.shape[:2])
    assert conf == 1.0 and len(boxes) == 5
    centres = sorted(b[:, 0].mean() for b in boxes)
    np.testing.assert_allclose(np.diff(centres), 62, atol=4)  # 31 map px apart = 62 image px
    assert all(b[:, 1].min() >= 49 and b[:, 1].max() <= 115 for b in boxes)
    # A transcription of 14 characters against 5 blobs: s_conf 5/14 < 0.5, equal-width split at 0.5.
    boxes, conf = pseudo_characters(region, matrix, "fourteen chars", crop.shape[:2])
    assert conf == 0.5 and len(boxes) == 13  # spaces do not count
    widths = [b[:, 0].max() - b[:, 0].min() for b in boxes]
    np.testing.assert_allclose(widths, 320 / 13, atol=0.01)
    conf_map = confidence_map((200, 600), [(quad, 0.625), (np.float32([[0, 0], [20, 0], [20, 20], [0, 20]]), 0.0)])
    assert conf_map[40, 130] == pytest.approx(0.625) and conf_map[5, 5] == 0 and conf_map[90, 290] == 1


def test_a_form_label_as_wide_as_the_page_renders():
    # Sample 6482 of seed 0 stopped a CPU training run at step ~1620: a form label wider than the
    # room left on its line gave a field box with x1 < x0.
    image, region, affinity, confidence = SynthCrops(seed=0, crop=384)[6482]
    assert image.shape == (3, 384, 384) and region.shape == affinity.shape == (192, 192)


def test_reader_fine_tuning_runs_resumes_and_exports(tmp_path):
    """bigocr train-reader on two training pages: a few CTC steps, an eval, a resume, a loadable export."""
    from pathlib import Path

    import bigocr
    from bigocr.models.weights import read_weights
    from bigocr.dev.train.reader import ReaderConfig, historical_charset, train_reader
    from bigocr.dev.train.reader import main as main_reader

    data = Path(__file__).resolve().parents[2] / "shared" / "data" / "train" / "vdsbb"
    real = data.parents[1] / "real" / "vdsbb"
    if not data.is_dir():
        pytest.skip("no shared/data/train here")
    config = ReaderConfig(str(tmp_path / "run"), str(data), str(real), steps=4, batch=8, checkpoint_every=2,
                          eval_every=4, limit_pages=1, warmup=2)
    logged = []
    first = train_reader(ReaderConfig(**{**config.__dict__, "steps": 2}), log=logged.append)
    assert first["step"] == 2 and (tmp_path / "run" / "crops.npz").is_file()
    assert "ſ" in first["charset"] or "ü" in first["charset"] or len(first["charset"]) > 96
    with pytest.raises(bigocr.ParameterError, match="other settings"):
        train_reader(config, log=logged.append)  # another number of steps is another run
    again = train_reader(ReaderConfig(**{**config.__dict__, "steps": 2, "eval_every": 1}), log=logged.append)
    assert again["step"] == 2 and any("resumed" in line for line in logged)
    weights, _ = read_weights(tmp_path / "run" / "best.safetensors", "crnn")
    assert weights.charset == first["charset"]
    assert historical_charset(["aaaaaü", "üüüü"], "a", 5) == "aü"
    # a slim reader: pruned from the base at the start, trained, exported at its width
    (tmp_path / "slim").mkdir()
    shutil.copy(tmp_path / "run" / "crops.npz", tmp_path / "slim" / "crops.npz")
    slim = ReaderConfig(**{**config.__dict__, "out": str(tmp_path / "slim"), "steps": 1, "eval_every": 1,
                           "width": 0.5, "teacher": "auto"})  # distilled from documents and historical
    assert train_reader(slim, log=logged.append)["step"] == 1
    assert read_weights(tmp_path / "slim" / "best.safetensors", "crnn")[0].width == 0.5
    with pytest.raises(bigocr.ParameterError, match="--width"):
        main_reader(["--out", str(tmp_path / "x"), "--width", "1.5"])


def test_student_starts_from_the_teachers_strongest_channels():
    """slim_from keeps, layer by layer, teacher filters (rows and columns through the U-net's concatenations)."""
    import torch

    from bigocr.models.craft import CRAFT
    from bigocr.dev.train.distill import slim_from

    torch.manual_seed(0)
    teacher = CRAFT(1.0).eval()
    student = slim_from(teacher, 0.5).eval()
    t_first, s_first = teacher.basenet.slice1[0].weight, student.basenet.slice1[0].weight
    assert s_first.shape == (32, 3, 3, 3)
    assert all(any(torch.equal(f, g) for g in t_first) for f in s_first)  # each kept filter is a teacher filter
    # the last decoder conv before the head reads channels the previous layer kept: copied weights, not random
    t_head, s_head = teacher.conv_cls[0].weight, student.conv_cls[0].weight
    assert s_head.shape == (32, 16, 3, 3) and all(
        any(torch.equal(s_head[:, j], t_head[:, i]) for i in range(32)) for j in range(16))
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert student(x)[0].shape == teacher(x)[0].shape == (1, 32, 32, 2)


def test_distillation_caches_teacher_maps_trains_resumes_and_exports(tmp_path):
    """bigocr distill on one page: teacher maps cached once, a few student steps, a resume, a loadable student."""
    from pathlib import Path

    import bigocr
    from bigocr.models.weights import read_weights
    from bigocr.dev.train.distill import DistillConfig, distill

    data = Path(__file__).resolve().parents[2] / "shared" / "data" / "real" / "funsd"
    if not data.is_dir():
        pytest.skip("no shared/data/real here")
    config = DistillConfig(str(tmp_path / "run"), data=f"{data}:train", width=0.25, crop=128, crops_per_page=3,
                           steps=2, batch=2, checkpoint_every=1, limit_pages=2, warmup=1, large_crops=1, more_crops=2)
    logged = []
    first = distill(config, log=logged.append)
    cached = sorted((tmp_path / "run" / "teacher").glob("*.npz"))
    assert first["step"] == 2 and len(cached) == 6 and sum("teacher_page" in line for line in logged) == 6
    large = [np.load(f) for f in cached if f.name.endswith(".large.npz")]
    assert len(large) == 2 and all(z["images"].shape == (1, 128, 128, 3) and z["maps"].shape == (1, 64, 64, 2)
                                   for z in large)
    more = [np.load(f) for f in cached if f.name.endswith(".more.npz")]
    base = [np.load(f) for f in cached if f.name.count(".") == 1]
    assert len(more) == len(base) == 2 and all(z["images"].shape == (2, 128, 128, 3) for z in more)
    assert not any(np.array_equal(m["images"][0], b["images"][0]) for m, b in zip(more, base))  # drawn anew
    stamps = [f.stat().st_mtime_ns for f in cached]
    with pytest.raises(bigocr.ParameterError, match="other settings"):
        distill(DistillConfig(**{**config.__dict__, "lr": 1e-3}), log=logged.append)
    logged.clear()
    again = distill(config, log=logged.append)
    assert again["step"] == 2 and any("resumed" in line for line in logged)
    assert not any("teacher_page" in line for line in logged)
    assert [f.stat().st_mtime_ns for f in cached] == stamps
    weights, _ = read_weights(tmp_path / "run" / "student.safetensors", "craft")
    assert weights.width == 0.25 and weights.name == "bigocr-craft-student-0.25"
    # --init WEIGHTS: a new run (fresh schedule) that starts where that student stands
    shutil.copytree(tmp_path / "run" / "teacher", tmp_path / "next" / "teacher")
    logged.clear()
    distill(DistillConfig(**{**config.__dict__, "out": str(tmp_path / "next"), "steps": 1,
                             "init": str(tmp_path / "run" / "student.safetensors")}), log=logged.append)
    start = [json.loads(line) for line in logged if '"step": 0' in line][0]
    assert start["held_out_loss"] == again["held_out_loss"]
    with pytest.raises(bigocr.ParameterError, match="width 0.25, not --width 0.5"):
        distill(DistillConfig(**{**config.__dict__, "out": str(tmp_path / "wide"), "width": 0.5,
                                 "init": str(tmp_path / "run" / "student.safetensors")}), log=logged.append)
    # --half-input from that student: the crops halved, the teacher's maps at the student's input resolution
    shutil.copytree(tmp_path / "run" / "teacher", tmp_path / "half" / "teacher")
    half = DistillConfig(**{**config.__dict__, "out": str(tmp_path / "half"), "steps": 1, "input_scale": 0.5,
                            "init": str(tmp_path / "run" / "student.safetensors")})
    assert distill(half, log=logged.append)["step"] == 1
    weights, _ = read_weights(tmp_path / "half" / "student.safetensors", "craft")
    assert weights.input_scale == 0.5 and weights.name == "bigocr-craft-student-half-0.25"
    with pytest.raises(bigocr.ParameterError, match="half-input student; pass --half-input"):
        distill(DistillConfig(**{**config.__dict__, "out": str(tmp_path / "usual"),
                                 "init": str(tmp_path / "half" / "student.safetensors")}), log=logged.append)


def test_reader_data_folders_and_crop_augmentation():
    """--data lists folders with an optional split; margin trimming and degrading keep the network's height."""
    from pathlib import Path

    import numpy as np

    import bigocr
    from bigocr.dev.train.reader import _degrade, _trim, folders

    assert folders("a, b:train") == [(Path("a"), "train"), (Path("b"), "train")]
    assert folders("a, b:all", purpose="eval") == [(Path("a"), "train"), (Path("b"), "train")]
    with pytest.raises(bigocr.ParameterError, match="train, eval, test or all"):
        folders("a:held")
    with pytest.raises(bigocr.ParameterError, match="reported figures only"):
        folders("a:test", purpose="eval")
    with pytest.raises(bigocr.ParameterError, match="choose checkpoints"):
        folders("a:eval")
    real = Path("../shared/data/real")
    assert folders(f"{real}/funsd, {real}/vdsbb:eval", purpose="eval") == [(real / "funsd", "eval"),
                                                                           (real / "vdsbb", "eval")]
    with pytest.raises(bigocr.ParameterError, match="funsd:train"):
        folders(f"{real}/funsd")  # a development source must name its training third
    with pytest.raises(bigocr.ParameterError, match="funsd:train"):
        folders(f"{real}/funsd:all")
    with pytest.raises(bigocr.ParameterError, match="choices are made on eval pages"):
        folders(f"{real}/vdsbb:all", purpose="eval")  # would let test pages pick a checkpoint
    rng = np.random.default_rng(0)
    crop = np.full((64, 300), 255, np.uint8)
    crop[20:44, 40:260] = 0  # the word; 0.3 word heights of paper around it
    trimmed = [_trim(crop, 0.3, rng) for _ in range(20)]
    assert all(t.shape[0] == 64 for t in trimmed)
    assert len({t.shape[1] for t in trimmed}) > 1 and all((t < 128).any() for t in trimmed)  # ink always kept
    soft = _degrade(crop, rng)
    assert soft.shape == crop.shape and soft.dtype == np.uint8 and 0 < np.abs(soft.astype(int) - crop).mean() < 40


def test_weak_supervision_on_a_real_page_trains_beside_synthetic_crops(tmp_path):
    """Pseudo character boxes of real words from the published CRAFT (s_conf mostly trusted), crops of the
    page at the pipeline's scale with their truth and confidence maps, and a training run mixing them in."""
    import json
    from pathlib import Path

    import numpy as np

    from bigocr.dev.evaluate import truth_pages
    from bigocr.engine.setup import resolve_detector
    from bigocr.dev.train.data import WeakCrops, prepare_weak
    from bigocr.dev.train.loop import TrainConfig, train

    real = Path(__file__).resolve().parents[2] / "shared" / "data" / "real" / "funsd"
    if not real.is_dir():
        pytest.skip("no shared/data/real here")
    stem, image, doc = next(truth_pages(real, "train", 1))
    page = tmp_path / "pages"
    page.mkdir()
    (page / image.name).symlink_to(image)
    (page / f"{stem}.gt.json").symlink_to(image.with_name(f"{stem}.gt.json"))
    detector, _ = resolve_detector("craft-mlt-25k", device="cpu")
    files = prepare_weak(list(truth_pages(page, "all")), tmp_path / "run" / "weak", detector, log=lambda s: None)
    words = json.loads(files[0].read_text())["words"]
    read = [w for w in words if w.get("chars")]
    assert len(read) > 20 and np.mean([w["conf"] for w in read]) > 0.7  # most words split as their text says
    assert all(w["conf"] == 0 for w in words if not w.get("chars"))  # no text: no loss there
    crops = WeakCrops(files, seed=0, crop=256)
    samples = [crops[i] for i in range(6)]
    assert all(s[0].shape == (3, 256, 256) and s[1].shape == s[3].shape == (128, 128) for s in samples)
    assert max(float(s[1].max()) for s in samples) > 0.5  # characters somewhere in the crops
    assert any(float(s[3].min()) < 1 for s in samples)  # word confidences (s_conf < 1, or 0) applied

    # The run finds the pseudo truth made above in OUT/weak (made once) and trains on it.
    made = files[0].stat().st_mtime_ns
    config = TrainConfig(str(tmp_path / "run"), steps=2, batch=2, crop=128, width=0.25, warmup=1, log_every=1,
                         real=str(page), init="")
    assert train(config, log=lambda s: None)["step"] == 2 and files[0].stat().st_mtime_ns == made


def test_weights_halved_for_shipping_load_and_give_the_same_maps(tmp_path):
    import torch
    from safetensors import safe_open

    import bigocr
    from bigocr.models.craft import CRAFT
    from bigocr.models.weights import read_weights, save_weights, to_half

    torch.manual_seed(0)
    net = CRAFT(0.25).eval()
    save_weights(net, tmp_path / "w.safetensors", name="w", extra={"step": 3})
    to_half(tmp_path / "w.safetensors", tmp_path / "w16.safetensors")
    with safe_open(str(tmp_path / "w16.safetensors"), framework="pt") as f:
        assert f.get_tensor("conv_cls.0.weight").dtype == torch.float16 and f.metadata()["step"] == "3"
    weights, state = read_weights(tmp_path / "w16.safetensors")
    half = CRAFT(weights.width).eval()
    half.load_state_dict(state)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(net(x)[0], half(x)[0], atol=1e-3)
    (tmp_path / "x.safetensors").write_bytes(b"\0" * 16)
    with pytest.raises(bigocr.WeightsError):
        to_half(tmp_path / "x.safetensors", tmp_path / "y.safetensors")


def test_large_letter_crops_are_whole_crops_even_on_a_tiny_page():
    """Crops with letters 2.5-5x larger: crop-sized wherever they fit, none where the page is too small."""
    from bigocr.tiler.scan import open_scan
    from bigocr.dev.train.distill import LARGE, _large_crops

    page = np.full((100, 90, 3), 255, np.uint8)
    page[40:60, 10:80] = 0
    for seed in range(8):
        out = _large_crops(open_scan(page), 1.0, page[..., 0], 384, 3, np.random.default_rng(seed))
        assert out.dtype == np.uint8 and out.shape[1:] == (384, 384, 3) and len(out) <= 3
    big = np.full((2000, 1500, 3), 255, np.uint8)
    big[::50, :, :] = 0
    out = _large_crops(open_scan(big), 1.0, big[..., 0], 128, 4, np.random.default_rng(0))
    assert out.shape == (4, 128, 128, 3) and LARGE[0] > 1


def test_region_truth_is_as_wide_as_the_published_crafts_own_maps():
    """Fine-tuning on truth narrower than the network's maps shrinks its blobs until words fall apart."""
    from bigocr.engine.setup import resolve_detector

    detector, _ = resolve_detector("craft-mlt-25k", device="cpu")
    mean = np.array([0.485, 0.456, 0.406])[:, None, None] * 255
    std = np.array([0.229, 0.224, 0.225])[:, None, None] * 255
    truth = found = 0.0
    for i in range(0, 12, 3):
        image, region, _, _ = SynthCrops(seed=0, crop=384)[i]
        pixels = np.clip(image.numpy() * std + mean, 0, 255).astype(np.uint8).transpose(1, 2, 0)
        truth += float((region.numpy() > 0.4).mean())
        found += float((detector(np.ascontiguousarray(pixels))[0] > 0.4).mean())
    assert 0.75 < truth / found < 1.33


def _with_dead_units(net, width):
    """``net`` with, in every layer, all but as many units as a CRNN of ``width`` has silenced: their
    filters (and batch norms), outgoing LSTM and linear columns zeroed, so they change nothing."""
    import torch

    from bigocr.models.crnn import CRNN

    small = CRNN(net.num_classes, width=width).state_dict()
    g = torch.Generator().manual_seed(1)
    state = net.state_dict()

    def dead(n, k):
        return torch.randperm(n, generator=g)[k:]

    layers = list(net.FeatureExtraction.ConvNet)
    for i, m in enumerate(layers):
        if isinstance(m, torch.nn.Conv2d):
            d = dead(m.out_channels, small[f"FeatureExtraction.ConvNet.{i}.weight"].shape[0])
            state[f"FeatureExtraction.ConvNet.{i}.weight"][d] = 0
            if m.bias is not None:
                state[f"FeatureExtraction.ConvNet.{i}.bias"][d] = 0
            if isinstance(layers[i + 1], torch.nn.BatchNorm2d):
                state[f"FeatureExtraction.ConvNet.{i + 1}.weight"][d] = 0
                state[f"FeatureExtraction.ConvNet.{i + 1}.bias"][d] = 0
    for n in range(2):
        pre = f"SequenceModeling.{n}"
        h = state[f"{pre}.rnn.weight_hh_l0"].shape[1]
        d = dead(h, small[f"{pre}.rnn.weight_hh_l0"].shape[1])
        for suffix in ("l0", "l0_reverse"):
            state[f"{pre}.rnn.weight_hh_{suffix}"][:, d] = 0  # nothing reads the silenced units back
        state[f"{pre}.linear.weight"][:, d] = 0
        state[f"{pre}.linear.weight"][:, h + d] = 0
        out = state[f"{pre}.linear.weight"].shape[0]
        d = dead(out, small[f"{pre}.linear.weight"].shape[0])
        if n == 0:
            for suffix in ("l0", "l0_reverse"):
                state[f"SequenceModeling.1.rnn.weight_ih_{suffix}"][:, d] = 0
        else:
            state["Prediction.weight"][:, d] = 0
    net.load_state_dict(state)
    return net


def test_a_pruned_reader_keeps_the_units_that_matter_and_a_slim_one_loads_back(tmp_path):
    """prune keeps units consistently through the convolutions, the batch norms, the four gates and both
    directions of each LSTM and the linear layers: a network whose other units are silent computes exactly
    the same pruned; a slim reader saves and loads at its width."""
    import torch

    from bigocr.models.weights import load_network, read_weights, save_weights
    from bigocr.models.crnn import CRNN
    from bigocr.dev.train.reader import prune

    torch.manual_seed(0)
    net = CRNN(11)
    for m in net.modules():  # batch norms with statistics of their own, so their scaling counts
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1), m.running_var.uniform_(0.5, 2), m.weight.data.uniform_(0.5, 2)
    net = _with_dead_units(net.eval(), 0.5)
    x = torch.rand(3, 1, 64, 48) * 2 - 1
    with torch.no_grad():
        slim = prune(net, 0.5).eval()
        assert slim.FeatureExtraction.ConvNet[0].weight.shape == (16, 1, 3, 3)
        assert slim.SequenceModeling[0].rnn.weight_hh_l0.shape == (512, 128)
        assert slim(x).shape == net(x).shape == (3, 11, 11)
        assert torch.allclose(slim(x), net(x), atol=1e-4)
        assert torch.allclose(prune(net, 1.0).eval()(x), net(x), atol=1e-5)
    slim.charset = "0123456789"
    save_weights(slim, tmp_path / "slim.safetensors", name="slim", network="crnn")
    weights, _ = read_weights(tmp_path / "slim.safetensors", "crnn")
    assert weights.width == 0.5
    loaded = load_network(weights)
    with torch.no_grad():
        assert torch.allclose(loaded(x.contiguous(memory_format=torch.channels_last)), slim(x), atol=1e-4)
    assert sum(p.numel() for p in slim.parameters()) < 0.3 * sum(p.numel() for p in net.parameters())


def test_distillation_targets_are_the_teachers_reading_in_the_students_charset():
    """Teachers maps a teacher's classes onto another charset: decoded there, the targets say what the
    teacher reads."""
    from bigocr.models.registry import resolve_named
    from bigocr.models.weights import load_network, read_weights
    from bigocr.recognizer.read import ctc_greedy, to_batch
    from bigocr.recognizer.recognize import read_images
    from bigocr.dev.train.reader import Teachers

    image = np.full((64, 260), 255, np.uint8)
    cv2.putText(image, "Invoice 42", (6, 46), cv2.FONT_HERSHEY_SIMPLEX, 1.4, 0, 3)
    weights, _ = read_weights(resolve_named("documents"), "crnn")
    said = read_images(load_network(weights), [image], weights.charset)[0][0]
    assert said.strip()
    charset = weights.charset[::-1] + "ſ"  # another order, and a class no teacher has
    target = Teachers("documents", charset, bf16=False)(torch.from_numpy(to_batch([image])))
    assert target.shape[2] == len(charset) + 1 and torch.allclose(target.sum(2), torch.ones(target.shape[:2]))
    assert float(target[:, :, charset.index("ſ") + 1].max()) == 0.0
    assert ctc_greedy(target.numpy(), charset)[0][0] == said
