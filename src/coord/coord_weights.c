/*
 * coord_weights.c — the manifest on the coordinator (see coord_weights.h).
 */
#include "coord/coord_weights.h"

#include <stdlib.h>

int coord_weights_init(coord_t *c, err_t *err)
{
    int rc = manifest_from_file(c->o.model_path, c->m->gguf, &c->manifest, err);
    if (rc)
        return rc;
    c->manifest_wire = malloc((size_t)c->manifest.n * MSG_MANIFEST_ENTRY);
    if (!c->manifest_wire)
        return err_set(err, ERR_NOMEM, "out of memory");
    return 0;
}

int coord_weights_welcome(coord_t *c, int worker, err_t *err)
{
    msg_t m;
    manifest_to_msg(&c->manifest, c->manifest_wire, &m);
    return coord_send_to(c, worker, &m, err);
}

void coord_weights_fini(coord_t *c)
{
    manifest_fini(&c->manifest);
    free(c->manifest_wire);
    c->manifest_wire = NULL;
}
