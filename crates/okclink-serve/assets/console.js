// Placeholder: the support console's script (replaced by the console's author).
"use strict";
