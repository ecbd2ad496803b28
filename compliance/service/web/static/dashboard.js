// The dashboard: a round's progress kept up to date while it runs, and a word before an upload under a rule set
// other than the service's. Plain JavaScript; without it the page still works (reload to see progress, and the
// server asks for the confirmation itself).
(function () {
  "use strict";
  var form = document.getElementById("batch-form");
  var select = document.getElementById("batch-rules");
  var note = document.getElementById("other-rules");
  if (form && select && note) {
    var update = function () { note.hidden = select.value === form.dataset.default; };
    select.addEventListener("change", update);
    update();
  }
  var list = document.getElementById("batch-list");
  if (!list) return;
  var running = function () { return list.querySelector("[data-active='1']") !== null; };
  var finished = false;
  function poll() {
    if (!running()) return;
    var before = {};
    list.querySelectorAll("[data-active='1']").forEach(function (el) { before[el.dataset.id] = true; });
    fetch(list.dataset.refresh, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.text(); })
      .then(function (html) {
        list.innerHTML = html;
        Object.keys(before).forEach(function (id) {
          var el = list.querySelector("[data-id='" + id + "']");
          if (el && el.dataset.active === "0") finished = true;
        });
        var reload = document.getElementById("reload-note");
        if (finished && reload) reload.hidden = false;
        setTimeout(poll, 2000);
      })
      .catch(function () { setTimeout(poll, 10000); });   // the service restarting: try again later
  }
  setTimeout(poll, 1500);
})();
