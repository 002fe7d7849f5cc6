"""The kernel-laugh Space: a Gradio demo of a laughter / emotion image classifier.

Which model it serves, first match wins: ``--model`` (when run by hand), the ``KERNEL_LAUGH_MODEL`` environment
variable (a Space variable; ``kernel-laugh push-space`` sets it), or the first ``models:`` entry of this folder's
README.md front matter. A Hub id or a local model folder both work.

    python app.py --model runs/sample [--host 0.0.0.0] [--port 7860]   # or: kernel-laugh demo runs/sample

Everything the page does lives in the package: ``kernel_laugh.demo`` places the components and
``kernel_laugh.demo_service`` does the work (reaching the package's inference, explain, video and faces modules
only); this file only picks the model and launches.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kernel_laugh.demo import build_demo, launch_kwargs
from kernel_laugh.demo_service import resolve_model
from kernel_laugh.errors import KernelLaughError

README = Path(__file__).with_name("README.md")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="model folder or Hub id (default: $KERNEL_LAUGH_MODEL, then README.md's models:)")
    parser.add_argument("--port", type=int, default=None, help="port to listen on (default: gradio's, 7860 or the next free one)")
    parser.add_argument("--host", default=None, help="address to listen on (default 127.0.0.1; 0.0.0.0 for your network)")
    parser.add_argument("--share", action="store_true", help="also open a temporary public gradio.live link")
    args = parser.parse_args(argv)
    try:
        demo = build_demo(resolve_model(args.model, README))
    except KernelLaughError as err:  # no model, a wrong one, or no network for a Hub id: one line, not a traceback
        print(f"error: {err}", file=sys.stderr)
        return 1
    demo.launch(server_name=args.host, server_port=args.port, share=args.share, **launch_kwargs())
    return 0


if __name__ == "__main__":
    sys.exit(main())
else:  # imported (e.g. by `gradio app.py` hot reload, which looks for a module-level `demo`)
    demo = build_demo(resolve_model(None, README))
