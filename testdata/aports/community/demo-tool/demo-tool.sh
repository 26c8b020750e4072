#!/bin/sh
wc -l < /usr/share/demo-data/words.txt
