"use strict";
// On a screen narrower than 1600 px the admin's navigation sidebar starts closed, so a
// list's table gets the width; its toggle opens it, and the admin remembers that choice.
// Runs before the admin's own nav_sidebar.js (deferred), which reads the same key.
if (localStorage.getItem("django.admin.navSidebarIsOpen") === null && window.innerWidth < 1600) {
    localStorage.setItem("django.admin.navSidebarIsOpen", "false");
}
