#!/usr/bin/env python3
"""Reads a Markdown page's code: the files it shows and the commands it says to run.

  doc_files.py PAGE --files DIR        writes each block that follows a line "`NAME`:" to DIR/NAME
  doc_files.py PAGE --block HEADING [N] prints the Nth (default first) code block under the
                                       heading HEADING (the whole line, e.g. "## 3. Build and run")

so that tests run a page's example exactly as a reader copies it (test/install/run.sh, test/aot/gxx_path_test.sh).
"""
import os
import re
import sys


def blocks(lines):
    """Yields (heading, the line before the block, the block's text) for each fenced block."""
    heading, previous, i = "", "", 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("```"):
            j = i + 1
            while j < len(lines) and not lines[j].startswith("```"):
                j += 1
            if j == len(lines):
                sys.exit("doc_files: unterminated code block at line %d" % (i + 1))
            yield heading, previous, "".join(lines[i + 1:j])
            i, previous = j + 1, ""
            continue
        if line.startswith("#"):
            heading = line.strip()
        if line.strip():
            previous = line.strip()
        i += 1


def main():
    if len(sys.argv) not in (4, 5) or sys.argv[2] not in ("--files", "--block"):
        sys.exit(__doc__)
    page, mode, arg = sys.argv[1:4]
    index = int(sys.argv[4]) if len(sys.argv) == 5 else 1
    with open(page, encoding="utf-8") as f:
        found = list(blocks(f.readlines()))
    if mode == "--files":
        written = 0
        for _, previous, text in found:
            m = re.fullmatch(r"`([\w.+-]+)`:", previous)
            if m:
                os.makedirs(arg, exist_ok=True)
                with open(os.path.join(arg, m.group(1)), "w", encoding="utf-8") as out:
                    out.write(text)
                written += 1
        if not written:
            sys.exit("doc_files: no files in %s" % page)
        return
    under = [text for heading, _, text in found if heading == arg]
    if len(under) < index:
        sys.exit("doc_files: no code block %d under '%s' in %s" % (index, arg, page))
    sys.stdout.write(under[index - 1])


if __name__ == "__main__":
    main()
