#!/usr/bin/env python3
"""Extracts each gpu.binary's object (assembly = PTX or bin = cubin) from an mlir-opt output file.
Usage: extract_ptx.py file.mlir outdir   -> outdir/<binary_name>.ptx|.cubin"""
import os, re, sys
src, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
text = open(src, encoding="latin-1").read()
for m in re.finditer(r'gpu\.binary @(\w+)\s+(?:<[^>]*>\s*)?\[#gpu\.object<.*?, (assembly|bin) = "((?:[^"\\]|\\.)*)"', text, re.S):
    name, kind, body = m.groups()
    data = bytearray()
    i = 0
    while i < len(body):
        c = body[i]
        if c == '\\':
            h = body[i+1:i+3]
            if re.fullmatch(r'[0-9A-Fa-f]{2}', h):
                data.append(int(h, 16)); i += 3; continue
            data += body[i+1].encode('latin-1'); i += 2; continue
        data += c.encode('latin-1'); i += 1
    ext = 'ptx' if kind == 'assembly' else 'cubin'
    open(os.path.join(out, f'{name}.{ext}'), 'wb').write(bytes(data))
    print(f'{name}.{ext}', len(data))
