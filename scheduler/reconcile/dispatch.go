package reconcile

// reconcileDispatch handles the allocations of a dispatch job, which the
// dispatcher creates one per queue message. Compute never places them: how
// many run depends on the queue, not on a count. It only records as lost the
// allocations on down nodes, without replacing them, because the message
// each one was running becomes visible again when its visibility timeout
// ends and the dispatcher runs it afresh, subject to the queue's
// max_receives. Allocations on draining nodes are left to finish their
// message; the dispatcher places no new ones there.
func reconcileDispatch(p *plan, views []*view) {
	for _, v := range views {
		if v.lost {
			p.stop(v, StopLost)
		}
	}
}
