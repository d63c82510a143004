#!/usr/bin/env bash
# SQL edition: the upgrade from the released 0.7, the same proof as from 0.6
# (upgrade.sh: rows, keys and settings kept, triggers and policies working,
# the schema equal to a fresh install, the shared suite passing).
SQLED_UPGRADE_FROM=0.7 exec bash "$(dirname "$0")/upgrade.sh"
