// Vexil's dashboard works without JavaScript; this file only adds conveniences.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  // Pickers that submit their form as soon as they change.
  for (const select of document.querySelectorAll("select[data-autosubmit]")) {
    select.addEventListener("change", () => select.form.submit());
  }
});
