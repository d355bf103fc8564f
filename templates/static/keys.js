// Keyboard navigation, a progressive enhancement (every page works without it):
// j / k move to the next / previous message, "/" goes to the search box,
// r to the reply box, q opens or closes the focused message's quoted text.
(function () {
  "use strict";
  function typing(el) {
    return el && (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName));
  }
  function messages() {
    return Array.prototype.slice.call(document.querySelectorAll("li.message"));
  }
  function current(list) {
    var active = document.activeElement;
    for (var i = 0; i < list.length; i++) {
      if (list[i] === active || list[i].contains(active)) return i;
    }
    var hash = location.hash.slice(1);
    for (var j = 0; j < list.length; j++) {
      if (list[j].id === hash) return j;
    }
    return -1;
  }
  function go(list, index) {
    if (index < 0 || index >= list.length) return;
    list[index].focus();
    list[index].scrollIntoView({ block: "start" });
    if (history.replaceState) history.replaceState(null, "", "#" + list[index].id);
  }
  document.addEventListener("keydown", function (event) {
    if (event.altKey || event.ctrlKey || event.metaKey || typing(event.target)) return;
    var list = messages();
    var at = current(list);
    if (event.key === "j" && list.length) {
      go(list, at + 1);
    } else if (event.key === "k" && list.length) {
      go(list, Math.max(at - 1, 0));
    } else if (event.key === "/") {
      var q = document.getElementById("q");
      if (q) q.focus();
    } else if (event.key === "r") {
      var box = document.getElementById("reply-body");
      if (box) box.focus();
    } else if (event.key === "q" && at >= 0) {
      var quoted = list[at].querySelector("details.quoted");
      if (quoted) quoted.open = !quoted.open;
    } else {
      return;
    }
    event.preventDefault();
  });
})();
