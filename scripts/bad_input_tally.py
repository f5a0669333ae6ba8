"""Extra bad inputs beyond issue 11's list, run against the real CLI; one line per case and a
summary (clear error / traceback / hang). Usage: .venv/bin/python scripts/bad_input_tally.py REPO_DIR"""
# ruff: noqa: E401, E402, E701, E702, E731 -- a terse list of one-line cases reads best here
import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

REPO = Path(sys.argv[1]); W = Path("/tmp/tally"); shutil.rmtree(W, ignore_errors=True); W.mkdir()
sys.path.insert(0, str(REPO))
from core.formats import densesirst as ds
from tests._support.cli import tiny_densesirst


def cli(*a, env=None, timeout=60):
    e = {**os.environ, "PYTHONPATH": str(REPO), "SIRST_LOG_DIR": "/tmp/tally/logs", **(env or {})}
    try:
        r = subprocess.run([sys.executable, str(REPO/"main.py"), *map(str,a)], capture_output=True, text=True, timeout=timeout, env=e, cwd=REPO)
    except subprocess.TimeoutExpired:
        return "hang", ""
    tb = "Traceback" in r.stderr or r.returncode == 4
    return ("traceback" if tb else f"clear(rc={r.returncode})"), (r.stderr.strip().splitlines() or [""])[-1][:110]
cases = []
def case(name):
    def deco(fn): cases.append((name, fn)); return fn
    return deco
def src(n=2):
    r = W / f"s{len(list(W.iterdir()))}"; tiny_densesirst(r, n=n); return r
def coco(doc, raw=None):
    d = W / f"c{len(list(W.iterdir()))}"; d.mkdir(); cv2.imwrite(str(d/"a.png"), np.zeros((10,10),np.uint8))
    (d/"c.json").write_text(raw if raw is not None else json.dumps(doc)); return d/"c.json"
base = lambda **kw: {"images":[{"id":1,"file_name":"a.png","width":10,"height":10}],"annotations":[{"id":1,"image_id":1,"category_id":1,"bbox":[1,1,3,3], **kw}],"categories":[{"id":1,"name":"target"}]}
P = lambda: W / f"p{len(list(W.iterdir()))}"
@case("XML billion laughs")
def _():
    r = src(); (r/ds.BBOX/"img-0.xml").write_text('<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><annotation>&b;</annotation>'); return cli("import", r, P())
@case("XML 10k-deep nesting")
def _():
    r = src(); (r/ds.BBOX/"img-0.xml").write_text("<a>"*10000 + "</a>"*10000); return cli("import", r, P())
@case("XML negative <width>")
def _():
    r = src(); x = r/ds.BBOX/"img-0.xml"; x.write_text(x.read_text().replace("<width>40</width>","<width>-40</width>")); return cli("import", r, P())
@case("XML fractional box partly outside")
def _():
    r = src(); x = r/ds.BBOX/"img-0.xml"; x.write_text(x.read_text().replace("<xmax>8</xmax>","<xmax>40.5</xmax>")); return cli("import", r, P())
@case("points: three numbers per line")
def _():
    r = src(); (r/ds.POINTS/"img-0_pixels0.txt").write_text("1 2 3\n"); return cli("import", r, P())
@case("points: UTF-16 file")
def _():
    r = src(); (r/ds.POINTS/"img-0_pixels0.txt").write_text("6 7\n", encoding="utf-16"); return cli("import", r, P())
@case("points: 1e308 (finite, outside)")
def _():
    r = src(); (r/ds.POINTS/"img-0_pixels0.txt").write_text("1e308 2\n"); return cli("import", r, P())
@case("target mask 16-bit 0/65535")
def _():
    r = src(); m = r/ds.TARGET_BIN/"img-0_pixels0.png"; a = cv2.imread(str(m), -1).astype(np.uint16)*257; cv2.imwrite(str(m), a); return cli("import", r, P())
@case("target mask RGB")
def _():
    r = src(); m = r/ds.TARGET_BIN/"img-0_pixels0.png"; a = cv2.imread(str(m), -1); cv2.imwrite(str(m), np.dstack([a]*3)); return cli("import", r, P())
@case("sky mask of the wrong size")
def _():
    r = src(); cv2.imwrite(str(r/ds.SKY_BIN/"img-0_pixels0.png"), np.zeros((5,5),np.uint8)); return cli("import", r, P())
@case("image is a symlink loop")
def _():
    r = src(); i = r/ds.IMAGES/"img-0.png"; i.unlink(); i.symlink_to(i); return cli("import", r, P())
@case("image is an empty file")
def _():
    r = src(); (r/ds.IMAGES/"img-0.png").write_bytes(b""); return cli("import", r, P())
@case("image x.png is a folder")
def _():
    r = src(); i = r/ds.IMAGES/"img-0.png"; i.unlink(); i.mkdir(); return cli("import", r, P())
@case("PNGImages is a file")
def _():
    r = src(); shutil.rmtree(r/ds.IMAGES); (r/ds.IMAGES).write_text("x"); return cli("import", r, P())
@case("Splits is a file")
def _():
    r = src(); shutil.rmtree(r/ds.SPLITS); (r/ds.SPLITS).write_text("x"); return cli("import", r, P())
@case("split file is a FIFO")
def _():
    r = src(); (r/ds.SPLITS/"train.txt").unlink(); os.mkfifo(r/ds.SPLITS/"train.txt"); return cli("import", r, P())
@case("point file is /dev/zero symlink")
def _():
    r = src(); p = r/ds.POINTS/"img-0_pixels0.txt"; p.unlink(); p.symlink_to("/dev/zero"); return cli("import", r, P())
@case("COCO RLE counts run past the image")
def _(): return cli("import", coco(base(segmentation={"counts":[5, 1000], "size":[10,10]})), P(), "--format", "coco")
@case("COCO RLE size mismatch")
def _(): return cli("import", coco(base(segmentation={"counts":[100], "size":[20,5]})), P(), "--format", "coco")
@case("COCO compressed RLE garbage")
def _(): return cli("import", coco(base(segmentation={"counts":"\u00ff\u00fe~~", "size":[10,10]})), P(), "--format", "coco")
@case("COCO RLE counts as strings")
def _(): return cli("import", coco(base(segmentation={"counts":["a","b"], "size":[10,10]})), P(), "--format", "coco")
@case("COCO file_name ../../etc/passwd")
def _():
    d = base(); d["images"][0]["file_name"] = "../../../../etc/passwd"; return cli("import", coco(d), P(), "--format", "coco")
@case("COCO file_name absolute /etc/hostname.png")
def _():
    d = base(); d["images"][0]["file_name"] = "/etc/hostname.png"; return cli("import", coco(d), P(), "--format", "coco")
@case("COCO duplicate image ids")
def _():
    d = base(); d["images"].append(dict(d["images"][0])); return cli("import", coco(d), P(), "--format", "coco")
@case("COCO bbox negative width")
def _(): return cli("import", coco(base(bbox=[1,1,-3,3])), P(), "--format", "coco")
@case("COCO polygon with odd count")
def _(): return cli("import", coco(base(segmentation=[[1,1,4,1,4]])), P(), "--format", "coco")
@case("COCO polygon of strings")
def _(): return cli("import", coco(base(segmentation=[["a","b","c","d","e","f"]])), P(), "--format", "coco")
@case("COCO top-level list")
def _(): return cli("import", coco(None, raw="[1,2,3]"), P(), "--format", "coco")
@case("COCO images items are strings")
def _(): return cli("import", coco(None, raw='{"images":["a.png"]}'), P(), "--format", "coco")
@case("COCO bbox as dict")
def _(): return cli("import", coco(base(bbox={"x":1})), P(), "--format", "coco")
@case("COCO category_id list")
def _(): return cli("import", coco(base(category_id=[1])), P(), "--format", "coco")
@case("COCO NaN literal in bbox")
def _(): return cli("import", coco(None, raw=json.dumps(base()).replace("[1, 1, 3, 3]", "[NaN, 1, 3, 3]")), P(), "--format", "coco")
@case("COCO JSON is a FIFO")
def _():
    f = W/"fifo.json"; os.mkfifo(f); return cli("import", f, P(), "--format", "coco")
@case("COCO JSON UTF-16")
def _():
    f = W/"u16.json"; f.write_text(json.dumps(base()), encoding="utf-16"); return cli("import", f, P(), "--format", "coco")
@case("import into a PROJECT that is a file")
def _():
    f = W/"pfile"; f.write_text("x"); return cli("import", src(), f)
@case("export from a non-project")
def _(): return cli("export", W, W/"o1")
@case("export from a garbage project.sqlite")
def _():
    d = W/"garb"; d.mkdir(); (d/"project.sqlite").write_bytes(os.urandom(4096)); return cli("export", d, W/"o2")
@case("info with project.sqlite a folder")
def _():
    d = W/"dirdb"; (d/"project.sqlite").mkdir(parents=True); return cli("info", d)
@case("export --format bogus")
def _(): return cli("export", W, W/"o3", "--format", "bogus")
@case("TIFF garbage after header")
def _():
    d = W/"tif"; d.mkdir(); (d/"a.tif").write_bytes(b"II*\x00" + os.urandom(300)); return cli("import", d, P(), "--format", "images")
@case("TIFF header claiming 100000x100000")
def _():
    import tifffile
    d = W/"tifbig"; d.mkdir(); tifffile.imwrite(d/"a.tif", np.zeros((4,4),np.uint16))
    b = bytearray((d/"a.tif").read_bytes()); data = bytes(b).replace(struct.pack("<HHII",256,4,1,4), struct.pack("<HHII",256,4,1,100000)).replace(struct.pack("<HHII",257,4,1,4), struct.pack("<HHII",257,4,1,100000))
    assert data != bytes(b)
    (d/"a.tif").write_bytes(data); return cli("import", d, P(), "--format", "images")
@case("JPEG truncated")
def _():
    d = W/"jt"; d.mkdir(); ok, b = cv2.imencode(".jpg", np.zeros((20,20),np.uint8)); (d/"a.jpg").write_bytes(b.tobytes()[:100]); return cli("import", d, P(), "--format", "images")
@case("BMP top-down (negative height), valid")
def _():
    d = W/"bmp"; d.mkdir(); ok, b = cv2.imencode(".bmp", np.zeros((6,8),np.uint8)); b = bytearray(b.tobytes()); b[22:26] = struct.pack("<i", -6); (d/"a.bmp").write_bytes(bytes(b)); return cli("import", d, P(), "--format", "images")
@case("evaluate: split missing")
def _():
    p = W/"pred"; p.mkdir(exist_ok=True); (p/"detections.csv").write_text("x"); return cli("evaluate", src(), "nosuch", p)
@case("evaluate: CSV with inf values")
def _():
    p = W/"pred2"; p.mkdir(); (p/"detections.csv").write_text("image_id,xmin,ymin,xmax,ymax,score\nimg-0,inf,1,2,3,0.5\n"); return cli("evaluate", src(), "val", p)
@case("evaluate --iou 7")
def _(): return cli("evaluate", src(), "val", W, "--iou", "7")
@case("synth --count -1")
def _(): return cli("synth", src(), W/"syn1", "--count", "-1")
@case("synth --count 0")
def _(): return cli("synth", src(), W/"syn2", "--count", "0")
@case("train --data nowhere")
def _(): return cli("train", "--data", W/"nowhere", "--out", W/"r1")
@case("train --epochs abc")
def _(): return cli("train", "--data", W, "--out", W/"r2", "--epochs", "abc")
@case("train --out is a file")
def _():
    f = W/"ofile"; f.write_text("x"); return cli("train", "--data", src(), "--train-split", "train", "--val-split", "val", "--out", f, "--epochs", "1")
@case("import --max-pixels 0")
def _(): return cli("import", src(), P(), "--max-pixels", "0")
@case("import --max-pixels abc")
def _(): return cli("import", src(), P(), "--max-pixels", "abc")
@case("SIRST_MAX_PIXELS=garbage")
def _(): return cli("import", src(), P(), env={"SIRST_MAX_PIXELS": "lots"})
@case("export OUT inside the project folder")
def _():
    p = P(); cli("import", src(), p); return cli("export", p, p / "exp")
@case("export OUT is the source dataset itself")
def _():
    r = src(); p = P(); cli("import", r, p); return cli("export", p, r)
@case("gui on a file")
def _():
    f = W/"gf"; f.write_text("x"); return cli("gui", f, env={"QT_QPA_PLATFORM": "offscreen", "SIRST_TEST_QUIT": "1"}, timeout=20)
results = {}
for name, fn in cases:
    try:
        kind, msg = fn()
    except Exception as exc:
        kind, msg = "setup-failed", repr(exc)
    results[name] = kind
    print(f"{kind:<14} {name:<42} {msg}")
from collections import Counter

c = Counter(k.split("(")[0] for k in results.values())
print("\nSUMMARY tried", len(results), dict(c))
