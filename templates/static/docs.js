// Starts Swagger UI on /docs (web/docs.py); a file, not an inline script, for the CSP.
"use strict";
(function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.getAttribute("data-schema"),
    domNode: root,
    deepLinking: true,
    // The schema's server is this site; validating against an outside service is off.
    validatorUrl: null,
  });
})();
