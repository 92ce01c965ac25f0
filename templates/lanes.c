/* ---- groups of examples in lanes (--lanes N) ----
   NC_LANES examples run together, one to a lane, example b + l of the
   group from b in lane l: element i of a group's workspace is at
   [i * NC_LANES + l]. A batch's whole groups run so, the examples left
   over one at a time, so that every lane holds an example. The emitter
   defines NC_LANES, NC_IN_LANES (0: every example alone), and where the
   copies of the inputs and targets go and how many there are:
   NC_IN_SLOT, NC_TG_SLOT, NC_IN_SIZE and NC_TG_SIZE. */
/* The group of NC_LANES examples from example b (a multiple of NC_LANES):
   its copies of their inputs and targets, in its workspace, which
   starts at ws_of(ws, b). */
static const real *lanes_in(real *ws, int b) { return ws_of(ws, b) + NC_IN_SLOT * NC_LANES; }
static const real *lanes_tg(real *ws, int b) { return ws_of(ws, b) + NC_TG_SLOT * NC_LANES; }
/* Example b's lane of its group's inputs and workspace, for write_outputs_lanes. */
static const real *lane_in(real *ws, int b) { return lanes_in(ws, b - b % NC_LANES) + b % NC_LANES; }
static const real *lane_ws(real *ws, int b) { return ws_of(ws, b - b % NC_LANES) + b % NC_LANES; }
/* The examples of a batch in whole groups: those from 0 up to it run in
   lanes (none where NC_IN_LANES is 0). */
static int whole_groups(int batch) { return NC_IN_LANES ? batch - batch % NC_LANES : 0; }

/* The group's inputs and targets (unless NULL), example b + l into lane l. */
static void load_lanes(const real *inputs, const real *targets, int b, real *group) {
  for (size_t l = 0; l < NC_LANES; l++) {
    size_t e = (size_t)b + l;
    /* int: NC_TG_SIZE may be 0, and an unsigned k < 0 is a warning */
    for (int k = 0; k < NC_IN_SIZE; k++)
      group[(NC_IN_SLOT + (size_t)k) * NC_LANES + l] = inputs[e * NC_IN_SIZE + (size_t)k];
    for (int k = 0; targets && k < NC_TG_SIZE; k++)
      group[(NC_TG_SLOT + (size_t)k) * NC_LANES + l] = targets[e * NC_TG_SIZE + (size_t)k];
  }
}
