// Signing out and starting up, shared by the tablet and the console (one kind of account each).
import { currentPrincipal, signOut } from "./api.js";
import { setStatus } from "./forms.js";

const $ = (selector) => document.querySelector(selector);

/** The sign-out button: end the session, then show the signed-out page. */
export function bindSignOut(show) {
  $("#sign-out").addEventListener("click", async () => {
    try {
      await signOut();
    } catch (error) {
      setStatus($("#page-status"), error.message, "error");
      return;
    }
    show(null, "You are signed out.", "ok");
  });
}

/** On page load: resume a session of `kind`, or show the sign-in form. A session of another
 *  kind (same browser, another app) is noted in `state.otherSession` so signing in ends it. */
export async function startApp(kind, show, state) {
  let principal = null;
  try {
    principal = await currentPrincipal();
  } catch (error) {
    setStatus($("#page-status"), error.message, "error");
  }
  if (principal && principal.kind === kind) show(principal);
  else {
    state.otherSession = Boolean(principal);
    show(null);
  }
}
