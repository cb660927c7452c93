"""tools/api_bench.py against a live server and a real worker: both endpoints measured, side by side."""

import json

import pytest

from classifier.models import Photo
from classifier.services import tokens as token_services
from tests.checkpoints import saved_checkpoint
from tests.factories import StaffFactory
from tests.photo_files import item_on_white
from tools import api_bench

pytestmark = pytest.mark.integration


def test_it_measures_predict_and_the_upload_page_in_one_run(live_server, worker, tmp_path, capsys):
    saved_checkpoint(preset="seed")
    user = StaffFactory()
    token = token_services.api_token_create(user=user)[1]
    photo = tmp_path / "shirt.jpg"
    item_on_white(size=(200, 240)).save(photo, "JPEG")
    api_bench.main(["--url", live_server.url, "--token", token, "--username", user.username, "--password",
                    "pw-for-tests", "--photo", str(photo), "-n", "3", "--json", str(tmp_path / "bench.json")])
    out = capsys.readouterr().out
    assert "API predict" in out and "upload page" in out and "predict / upload page: x" in out
    figures = json.loads((tmp_path / "bench.json").read_text())["results"]
    assert [r["n"] for r in figures] == [3, 3] and all(r["requests_per_s"] > 0 for r in figures)
    # Only the upload page stores photos (its 3 and the 3 warm-up requests); predict stores none.
    assert Photo.objects.count() == 3 + api_bench.WARM_UP
