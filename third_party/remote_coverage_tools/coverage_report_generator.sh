#!/bin/sh
echo "coverage reports are not available in Kiln's offline build" >&2
exit 1
