"""Writes qres's wheel from the built package, with the standard library only (no network, no
setuptools): qres-VERSION-py3-none-linux_x86_64.whl. The extension calls no Python C API, so one
wheel serves every Python 3; it needs the torch it was built against (Requires-Dist).

    make_wheel.py --out DIR --version V --torch 2.11.0 qres/__init__.py qres/optim.py qres/_C.so
"""
import argparse
import base64
import hashlib
import os
import zipfile


def record_line(name, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, help="the wheel file to write")
    parser.add_argument("--version", required=True)
    parser.add_argument("--torch", required=True, help="the torch version the extension was built against")
    parser.add_argument("files", nargs="+", help="the package's files; each goes in as qres/<its name>")
    args = parser.parse_args()

    dist_info = f"qres-{args.version}.dist-info"
    entries = []
    for path in args.files:
        with open(path, "rb") as f:
            entries.append((f"qres/{os.path.basename(path)}", f.read()))
    metadata = "\n".join([
        "Metadata-Version: 2.1",
        "Name: qres",
        f"Version: {args.version}",
        "Summary: Quantized optimizers with monotonically increasing resolution (QSGD, QtAdam, QtAdamW) for PyTorch",
        f"Requires-Dist: torch=={args.torch}",
        "",
    ]).encode()
    wheel = b"Wheel-Version: 1.0\nGenerator: qres make_wheel.py\nRoot-Is-Purelib: false\nTag: py3-none-linux_x86_64\n"
    entries += [(f"{dist_info}/METADATA", metadata), (f"{dist_info}/WHEEL", wheel)]
    record = [record_line(name, data) for name, data in entries] + [f"{dist_info}/RECORD,,"]
    entries.append((f"{dist_info}/RECORD", ("\n".join(record) + "\n").encode()))

    temporary = args.out + ".partial"
    with zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))  # the same bytes from the same files
            info.external_attr = (0o755 if name.endswith(".so") else 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    os.replace(temporary, args.out)


if __name__ == "__main__":
    main()
