"""The exported bundle: `manage.py export_model` writes model.onnx (normalisation and flip
averaging inside), metadata.json, predict.py and the app's own photos.py, and the bundle gives
the app's answers on the team's photos. (In a virtualenv with only the bundle's requirements:
test_export_venv.py.)"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from classifier.models import Checkpoint
from dataset.classes import CLASS_NAMES
from dataset.photos import PREPROCESS_VERSION
from tests.bundles import app_probabilities, assert_same_answers, bundle_answers, shared_photo_files, train_fast
from tests.factories import real_checkpoint, report_from_logits

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def fast_weights(tmp_path_factory):
    return train_fast(tmp_path_factory.mktemp("fast"))


@pytest.fixture(scope="session")
def bundle(fast_weights, tmp_path_factory):
    from engine.checkpoints import file_sha256
    from engine.export import bundle_write

    return bundle_write(checkpoint_file=fast_weights, expected_sha256=file_sha256(fast_weights),
                        out_dir=tmp_path_factory.mktemp("bundle") / "b", about={})


def test_the_command_writes_the_bundle_with_what_the_app_knows(fast_weights, tmp_path, db, capsys):
    checkpoint = real_checkpoint(fast_weights)
    report_from_logits([0, 1], [[3] + [0] * 9, [0, 3] + [0] * 8], checkpoint=checkpoint)
    call_command("export_model", "--checkpoint", str(checkpoint.pk), "--out", str(tmp_path / "out"))
    out = tmp_path / "out"
    assert {p.name for p in out.iterdir()} == {"model.onnx", "metadata.json", "predict.py", "photos.py",
                                               "requirements.txt", "README.md"}
    metadata = json.loads((out / "metadata.json").read_text())
    assert metadata["class_names"] == list(CLASS_NAMES)
    assert metadata["checkpoint_sha256"] == checkpoint.sha256 and metadata["checkpoint"] == checkpoint.pk
    assert metadata["preprocessing"]["version"] == PREPROCESS_VERSION
    assert metadata["preprocessing"]["settings"]["grabcut_iterations"] == 5
    assert metadata["inference"]["tta_flip"] is True and metadata["inference"]["inside_the_graph"] is True
    test_set = next(d for d in metadata["scorecard"] if d["dataset"] == "fmnist-test")
    assert test_set["accuracy"] == 1.0 and test_set["n"] == 2
    # The app's own module, byte for byte: no second copy of the preprocessing to drift.
    assert (out / "photos.py").read_bytes() == (REPO / "dataset" / "photos.py").read_bytes()
    assert "predict.py" in capsys.readouterr().out


def test_the_command_refuses_a_checkpoint_whose_file_changed(fast_weights, tmp_path, db):
    checkpoint = real_checkpoint(fast_weights)
    Checkpoint.objects.filter(pk=checkpoint.pk).update(sha256="0" * 64)
    with pytest.raises(CommandError, match="has changed since it was written"):
        call_command("export_model", "--checkpoint", str(checkpoint.pk), "--out", str(tmp_path / "out"))
    with pytest.raises(CommandError, match="No checkpoint #999"):
        call_command("export_model", "--checkpoint", "999", "--out", str(tmp_path / "out"))


def test_the_graph_holds_normalisation_and_flip_averaging(bundle, fast_weights):
    """On raw uint8 images, the graph gives the app's softmax of predict_logits (which
    normalises and averages flips): also on images that are not mirror-symmetric."""
    import onnxruntime
    import torch

    from engine.checkpoints import inference_of, load_checkpoint
    from engine.inference import predict_logits

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(5, 28, 28), dtype=np.uint8)
    images[:, :, :10] = 0  # asymmetric: the mirror differs
    model, payload = load_checkpoint(fast_weights)
    expected = torch.softmax(predict_logits(model, torch.from_numpy(images), inference_of(payload)), 1).numpy()
    session = onnxruntime.InferenceSession(str(bundle / "model.onnx"), providers=["CPUExecutionProvider"])
    got = session.run(["probabilities"], {"image": images})[0]
    np.testing.assert_allclose(got, expected, atol=1e-5)
    plain = torch.softmax(model(torch.from_numpy(images).unsqueeze(1).float()), 1).detach().numpy()
    assert np.abs(plain - expected).max() > 1e-3  # without normalisation the answer would differ


def test_the_bundle_answers_as_the_app_on_the_teams_photos(bundle, fast_weights):
    photos = shared_photo_files()
    assert_same_answers(app_probabilities(fast_weights, photos), bundle_answers(sys.executable, bundle, photos),
                        photos)


def test_the_bundle_says_which_files_it_refuses(bundle, tmp_path):
    bad = tmp_path / "notes.jpg"
    bad.write_bytes(b"not a picture")
    result = subprocess.run([sys.executable, str(bundle / "predict.py"), str(bad)], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 1
    assert "is not an image" in json.loads(result.stdout)["error"]


def test_predict_and_photos_import_without_torch_or_django(bundle):
    code = ("import sys; sys.path.insert(0, '.'); import predict, photos; "
            "print(sorted(m for m in ('torch', 'django', 'celery', 'classifier', 'engine', 'dataset') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], cwd=bundle, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
