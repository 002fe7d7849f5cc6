"""The README names only commands and flags that exist: every `kernel-laugh COMMAND` in its code blocks is a
command, every --flag on such a line is one of that command's options (checked on the parser --help prints), and
every other --flag the README mentions belongs to some kernel-laugh command or to space/app.py."""

from __future__ import annotations

import argparse
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from kernel_laugh.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
FLAG = re.compile(r"(?<![\w-])(--[a-z][a-z0-9_-]*[a-z0-9])")
# Flags of other tools the README shows (pip, pytest, accelerate launch, the benchmark script).
OTHER_TOOLS = {"--config_file", "--cpu", "--num_processes", "--json", "--quiet", "--only"}


def _commands() -> dict[str, argparse.ArgumentParser]:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def _options(parser: argparse.ArgumentParser) -> set[str]:
    return set(parser._option_string_actions)


def _code_lines() -> list[str]:
    """The lines of the README's shell code blocks (fences with no language, bash or sh), comments cut off."""
    lines, fence = [], None
    for line in README.splitlines():
        if line.startswith("```"):
            fence = line[3:].strip() if fence is None else None
            continue
        if fence in ("", "bash", "sh"):
            lines.append(line.split("  #", 1)[0].strip())
    return [line for line in lines if line]


def _space_app_options() -> set[str]:
    done = subprocess.run([sys.executable, str(ROOT / "space" / "app.py"), "--help"], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return set(FLAG.findall(done.stdout))


def test_every_command_and_flag_in_the_readme_code_exists():
    commands = _commands()
    checked = 0
    for line in _code_lines():
        if not line.startswith(("kernel-laugh ", "accelerate launch ")):  # commands, not the layout's prose
            continue
        words = shlex.split(line)
        if "kernel-laugh" in words:
            rest = words[words.index("kernel-laugh") + 1:]
        elif "scripts/train.py" in words:  # accelerate launch [its flags] scripts/train.py [train flags]
            rest = ["train", *words[words.index("scripts/train.py") + 1:]]
        else:
            continue
        command = rest[0]
        assert command in commands, f"README: `kernel-laugh {command}` is not a command ({line})"
        unknown = {f for f in FLAG.findall(" ".join(rest[1:])) if f not in _options(commands[command])}
        assert not unknown, f"README: {sorted(unknown)} not options of `kernel-laugh {command}` ({line})"
        checked += 1
    assert checked >= 20  # the README's examples really were found


def _script_options() -> set[str]:
    """Flags the scripts/ entry points and benchmarks define (their argparse calls, read from the source)."""
    pattern = re.compile(r"add_argument\(\s*[\"'](--[\w-]+)")
    return {f for path in (ROOT / "scripts").glob("*.py") for f in pattern.findall(path.read_text())}


def test_every_flag_mentioned_in_the_readme_exists_somewhere():
    known = set().union(*(_options(p) for p in _commands().values()), _options(build_parser()), OTHER_TOOLS,
                        _space_app_options(), _script_options())
    unknown = sorted(set(FLAG.findall(README)) - known)
    assert unknown == []


@pytest.mark.parametrize("command", ["python space/app.py"])
def test_space_app_takes_the_flags_the_readme_gives_it(command):
    lines = [line for line in README.splitlines() if command in line]
    assert lines
    flags = {f for line in lines for f in FLAG.findall(line.split(command, 1)[1])}
    assert flags <= _space_app_options()


def test_gitignore_covers_what_the_readme_commands_write():
    from fnmatch import fnmatch

    patterns = [p.strip().rstrip("/") for p in (ROOT / ".gitignore").read_text().splitlines()
                if p.strip() and not p.startswith("#")]
    written = {m for line in _code_lines() for m in re.findall(r"--output(?:-dir)? (\S+)", line)}
    assert {"runs/sample", "data/synthetic", "frames/"} <= written
    for path in written:
        top = path.strip("/").split("/", 1)[0]
        assert any(fnmatch(top, p) or fnmatch(path, p) for p in patterns), f".gitignore does not cover {path}"


def test_project_layout_lists_every_module():
    layout = README.split("## Project layout", 1)[1].split("```", 2)[1]
    package = ROOT / "src" / "kernel_laugh"
    modules = [p.name for p in package.glob("*.py") if p.name != "__init__.py"]
    modules += [p.name + "/" for p in package.iterdir() if p.is_dir() and (p / "__init__.py").is_file()]
    assert [m for m in modules if not re.search(rf"^\s+{re.escape(m)}\s", layout, re.M)] == []
