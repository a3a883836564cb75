"""Services: the use cases. `check_*` validates untrusted input, `do_*` writes in one
transaction, `access_*` returns an object only if the actor may see it, else NotFound."""
