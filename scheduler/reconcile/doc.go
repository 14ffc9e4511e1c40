// Package reconcile decides, for one job, what the cluster must change so
// that what runs matches what the job asks for. It is the first stage of an
// evaluation: [Compute] takes a read-only snapshot (the job, its allocations,
// the nodes they are on and the time) and returns a [Result] listing the
// allocations to place, the allocations to stop and when to look again. It
// performs no I/O and keeps no state, so the scheduler can call it on any
// snapshot, commit the result as one state command and hand the placements to
// placement, which picks their nodes.
//
// # Name indexes
//
// Every allocation has a name index, like job[3]. For a service the indexes
// only name instances: [Compute] keeps Count live allocations with unique
// indexes and gives new ones the lowest free index below Count. Scaling in
// stops idle allocations before busy ones, so a busy allocation with an index
// of Count or more may outlive an idle one with a lower index; the gap it
// leaves is filled by the next placement (a replacement of an out-of-range
// allocation takes the lowest free index), never by stopping a healthy
// allocation just to rename it. For a batch job an index is a unit of work,
// which a task may use to pick its share, so indexes are strict: each of
// 0..Count-1 runs until one allocation of it completes.
//
// # Replacing failed allocations
//
// A failed allocation keeps its index while a backoff runs, so nothing else
// is placed in its stead. The backoff is [Backoff.Delay] doubled for every
// earlier consecutive failure of the same index, capped at [Backoff.MaxDelay]
// and counted from [Alloc.FailedAt]; until it expires [Result.FollowUpAt]
// says when to evaluate the job again. [Alloc.Failures] counts the
// consecutive failures up to and including the allocation; a placement
// carries the count the new allocation must store ([Placement.Failures]),
// and the scheduler stores it verbatim. A failed allocation of an older job
// version is replaced at once with its count reset: the backoff protects the
// cluster from a definition that keeps failing, and a new definition deserves
// a fresh start. Allocations on down nodes (or on nodes missing from
// [Input.Nodes]) are lost and replaced at once.
//
// # Voluntary disruptions
//
// Rolling updates and drain migrations stop healthy allocations on purpose,
// so they share one budget of [Job.MaxParallel] allocations, and a batch of
// them starts only when the job is otherwise settled: no allocation of the
// current version is pending or failed, and nothing else is being placed in
// the same result. A broken new version therefore halts its own rollout, and
// capacity never drops by more than MaxParallel through disruptions the
// scheduler chose.
//
// # Job types
//
// Compute asks the job's kind ([specs.KindOf]) how to plan it, never its
// type's name, so a job type is reconciled as its row of the table says.
// Services ([specs.PlanCount]) are kept at Count live allocations of the
// latest version. Batch jobs ([specs.PlanCompletion]) run each index to
// successful completion once: a completed allocation counts as done
// forever, even after the job's version changes (a new version runs only
// the indexes not yet complete, and allocations still running an older
// version are left to finish), and failed ones are retried with the same
// backoff. Dispatch jobs ([specs.PlanPerMessage]) get one allocation per
// queue message from the dispatcher, never from [Compute]; here they, and
// jobs of a type without a known plan, are only stopped when the job is
// stopped and marked lost when their node is down, and the message's own
// retry path runs the message again.
//
// Every Stop is one the scheduler must record: a Stop of an allocation that
// already failed or completed only sets its desired status, which is how the
// next [Compute] knows that the allocation has been replaced. A Stop whose
// allocation is the [Placement.PreviousAlloc] of a placement belongs with
// that placement: when placement finds no node for it, the scheduler should
// drop the stop as well (except to record a lost allocation as lost), so a
// rolling update or a drain never takes an allocation away with nothing in
// its place, and a failed allocation keeps its failure count for the next
// attempt.
package reconcile
