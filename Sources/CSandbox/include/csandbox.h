// Process-spawning helpers for the checker sandbox (filled in by the tasks module).
#pragma once
int csandbox_placeholder(void);
