"""tools/gallery_load.py in its quick mode: a seeded database of its own, real gunicorn, both pages measured."""

import re

from tools import gallery_load


def test_it_seeds_its_own_database_and_measures_both_pages_on_gunicorn(capsys):
    assert gallery_load.main(["--photos", "60", "--runs", "8", "--seconds", "2", "--connections", "2"]) == 0
    out = capsys.readouterr().out
    assert "seeded 60 photos and 8 runs" in out
    for page in ("gallery", "run list"):
        line = next(line for line in out.splitlines() if line.startswith(page))
        rps, p50, p99, answered = re.search(
            r"([\d.]+) requests/s +p50 +(\d+) ms +p99 +(\d+) ms +\((\d+) answered", line).groups()
        assert float(rps) > 0 and int(answered) > 0 and int(p50) <= int(p99)
        assert "NOT 200" not in line
