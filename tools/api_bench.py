"""Requests per second: the API's predict (one photo a request, the model's answer in the reply)
against the upload page's one-photo requests (stored, answered before the worker predicts),
one after the other against a running server, printed side by side.

    python -m tools.api_bench --token fmn_... --username admin --password ...   # a server on :8000
    python -m tools.api_bench --url http://127.0.0.1:8000 -n 100 --photo shirt.jpg

The server must have a worker and a model (a succeeded run): predict waits for the worker's
answer. Each request sends its own copy of the photo (one pixel changed, so the upload page
never refuses it as a duplicate; both endpoints preprocess the same bytes). Requests are sent
one at a time (no concurrency), after a few unmeasured ones (the worker loads the model at its
first predict). Uploads are stored: run it on a scratch installation, not the team's gallery.
The token and password may come from FMNIST_TOKEN and FMNIST_PASSWORD instead.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import io
import json
import os
import statistics
import sys
import time
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parent.parent
WARM_UP = 3


def shared_photo() -> Path:
    folder = Path(os.environ.get("SHARED_DIR") or REPO.parent / "shared") / "photos"
    photos = sorted(p for p in folder.rglob("*.jp*g"))
    if not photos:
        sys.exit(f"No photo given and none under {folder}: pass --photo")
    return photos[0]


def variants(photo: Path, count: int) -> list[bytes]:
    """`count` JPEGs of the photo, each with one pixel changed: distinct bytes, the same work."""
    with Image.open(photo) as image:
        base = image.convert("RGB")
    out = []
    for i in range(count):
        copy = base.copy()
        copy.putpixel((i % copy.width, (i // copy.width) % copy.height), (i % 256, 0, 0))
        buffer = io.BytesIO()
        copy.save(buffer, "JPEG", quality=92)
        out.append(buffer.getvalue())
    return out


def multipart(field: str, filename: str, data: bytes, extra: dict[str, str] | None = None) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
             for name, value in (extra or {}).items()]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
                 f"Content-Type: image/jpeg\r\n\r\n".encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


class Session:
    def __init__(self, url: str):
        self.url = url.rstrip("/")
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies))

    def csrf(self) -> str:
        return next(c.value for c in self.cookies if c.name == "csrftoken")

    def request(self, path: str, data: bytes | None = None, headers: dict | None = None) -> tuple[int, bytes]:
        request = urllib.request.Request(self.url + path, data=data, headers=headers or {})
        try:
            with self.opener.open(request, timeout=120) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def sign_in(self, username: str, password: str) -> None:
        self.request("/accounts/login/")
        form = urllib.parse.urlencode({"username": username, "password": password,
                                       "csrfmiddlewaretoken": self.csrf()}).encode()
        status, body = self.request("/accounts/login/", form, {"Referer": self.url + "/accounts/login/"})
        if b'name="password"' in body:
            sys.exit(f"Signing in as {username} failed (status {status}).")
        self.request("/photos/upload/")  # a fresh CSRF cookie after signing in


def timed(send, payloads: list[bytes]) -> list[float]:
    seconds = []
    for data in payloads:
        start = time.perf_counter()
        send(data)
        seconds.append(time.perf_counter() - start)
    return seconds


def summary(name: str, seconds: list[float]) -> dict:
    total = sum(seconds)
    ordered = sorted(seconds)
    return {"name": name, "n": len(seconds), "seconds": round(total, 3), "requests_per_s": round(len(seconds) / total, 2),
            "median_ms": round(statistics.median(seconds) * 1000, 1),
            "p90_ms": round(ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))] * 1000, 1)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--token", default=os.environ.get("FMNIST_TOKEN"), help="an API token (manage.py api_token)")
    parser.add_argument("--username", default=os.environ.get("FMNIST_USER", "admin"))
    parser.add_argument("--password", default=os.environ.get("FMNIST_PASSWORD"))
    parser.add_argument("--photo", type=Path, help="default: the first JPEG under ../shared/photos")
    parser.add_argument("-n", type=int, default=50, help="measured requests per endpoint (default 50)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    if not args.token or not args.password:
        sys.exit("Give --token and --password (or FMNIST_TOKEN and FMNIST_PASSWORD).")
    photo = args.photo or shared_photo()
    payloads = variants(photo, 2 * (args.n + WARM_UP))
    api_payloads, page_payloads = payloads[:args.n + WARM_UP], payloads[args.n + WARM_UP:]

    api = Session(args.url)
    answers: list[dict] = []

    def predict(data: bytes) -> None:
        body, content_type = multipart("image", photo.name, data)
        status, reply = api.request("/api/v1/predict", body, {"Authorization": f"Bearer {args.token}",
                                                              "Content-Type": content_type})
        if status != 200:
            sys.exit(f"predict answered {status}: {reply[:300]!r}")
        answers.append(json.loads(reply))

    page = Session(args.url)
    page.sign_in(args.username, args.password)

    def upload(data: bytes) -> None:
        body, content_type = multipart("photo", f"bench-{uuid.uuid4().hex[:8]}.jpg", data)
        status, reply = page.request("/photos/upload/file/", body, {
            "Content-Type": content_type, "X-CSRFToken": page.csrf(), "Accept": "application/json",
            "Referer": args.url + "/photos/upload/"})
        if status != 201:
            sys.exit(f"the upload page answered {status}: {reply[:300]!r}")

    timed(predict, api_payloads[:WARM_UP])
    timed(upload, page_payloads[:WARM_UP])
    results = [summary("API predict (answer included)", timed(predict, api_payloads[WARM_UP:])),
               summary("upload page (stored, predicted later)", timed(upload, page_payloads[WARM_UP:]))]
    print(f"{photo.name}: {len(api_payloads[0]):,} bytes, {args.n} requests each, one at a time, against {args.url}")
    print(f"{'':40} {'req/s':>8} {'median ms':>10} {'p90 ms':>8}")
    for r in results:
        print(f"{r['name']:40} {r['requests_per_s']:>8.2f} {r['median_ms']:>10.1f} {r['p90_ms']:>8.1f}")
    ratio = results[0]["requests_per_s"] / results[1]["requests_per_s"]
    print(f"predict / upload page: x{ratio:.2f}; predicted class of the photo: {answers[-1]['label']} "
          f"(checkpoint #{answers[-1]['checkpoint']})")
    if args.json:
        args.json.write_text(json.dumps({"photo": str(photo), "url": args.url, "results": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
