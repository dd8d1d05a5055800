//! Consumer groups of KIP-848 (ConsumerGroupHeartbeat): the coordinator computes the
//! assignment itself and hands each member its share in heartbeat answers. Members move
//! to a new assignment one heartbeat at a time, and a partition goes to its new owner
//! only after the old owner has reported that it let go, so no partition ever has two
//! consumers. Committed offsets are the classic coordinator's: one offsets stream for
//! both kinds of group.
//!
//! Group state other than offsets is in memory, as for classic groups: after a restart,
//! members are unknown and rejoin (their heartbeats answer UNKNOWN_MEMBER_ID).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use floe_stream::meta::State;
use kafka_protocol::ResponseError;
use tokio::time::Instant;
use uuid::Uuid;

/// A partition, as KIP-848 names it: topic id and index.
pub(crate) type Partition = (Uuid, i32);

/// Member epochs with a meaning of their own in a heartbeat.
const JOIN: i32 = 0;
const LEAVE: i32 = -1;
const LEAVE_STATIC: i32 = -2;

#[derive(Debug)]
pub(crate) struct Member {
    pub(crate) epoch: i32,
    previous_epoch: i32,
    pub(crate) instance_id: Option<String>,
    pub(crate) rack_id: Option<String>,
    pub(crate) client_id: String,
    pub(crate) client_host: String,
    pub(crate) subscribed: Vec<String>,
    rebalance_timeout: Duration,
    /// What the member was told it owns.
    pub(crate) assigned: BTreeSet<Partition>,
    /// Taken away from it, not yet reported as released.
    revoking: BTreeSet<Partition>,
    revoking_since: Option<Instant>,
    /// The assignment last sent, so an unchanged one is not sent again.
    sent: Option<BTreeSet<Partition>>,
    last_seen: Instant,
}

#[derive(Debug, Default)]
pub(crate) struct Group {
    pub(crate) epoch: i32,
    pub(crate) members: BTreeMap<String, Member>,
    /// The subscribed topics the target was computed from: name, id, partitions.
    metadata: Vec<(String, Uuid, usize)>,
    /// Where every partition should end up, by member.
    target: BTreeMap<String, BTreeSet<Partition>>,
}

impl Group {
    /// Where the coordinator wants `member`'s partitions to end up.
    pub(crate) fn target_of(&self, member: &str) -> BTreeSet<Partition> {
        self.target.get(member).cloned().unwrap_or_default()
    }

    /// KIP-848's state names, for ListGroups and DescribeGroups.
    pub(crate) fn state(&self) -> &'static str {
        if self.members.is_empty() {
            "Empty"
        } else if self.members.values().all(|m| m.epoch == self.epoch && m.revoking.is_empty()) {
            "Stable"
        } else {
            "Reconciling"
        }
    }
}

/// A heartbeat's fields, as the coordinator needs them.
#[derive(Debug)]
pub(crate) struct Heartbeat {
    pub(crate) group: String,
    pub(crate) member_id: String,
    pub(crate) member_epoch: i32,
    pub(crate) instance_id: Option<String>,
    pub(crate) rack_id: Option<String>,
    pub(crate) rebalance_timeout: Duration,
    /// `None`: unchanged since the last heartbeat.
    pub(crate) subscribed: Option<Vec<String>>,
    /// `None`: unchanged since the last heartbeat.
    pub(crate) owned: Option<Vec<Partition>>,
    pub(crate) client_id: String,
    pub(crate) client_host: String,
}

/// What a member is told.
#[derive(Debug, PartialEq)]
pub(crate) struct Answer {
    pub(crate) member_id: String,
    pub(crate) epoch: i32,
    /// Its partitions, when they changed.
    pub(crate) assignment: Option<BTreeSet<Partition>>,
}

/// Timings the coordinator gives members (Kafka's group.consumer.* settings).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timings {
    pub(crate) heartbeat_interval: Duration,
    pub(crate) session_timeout: Duration,
}

/// Every KIP-848 group.
#[derive(Debug)]
pub(crate) struct Coordinator {
    groups: Mutex<HashMap<String, Group>>,
    pub(crate) timings: Timings,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Coordinator {
    /// A coordinator with no groups; [`reap`] expires its members.
    pub(crate) fn new(timings: Timings) -> Arc<Coordinator> {
        Arc::new(Coordinator { groups: Mutex::new(HashMap::new()), timings })
    }

    pub(crate) fn groups(&self) -> MutexGuard<'_, HashMap<String, Group>> {
        lock(&self.groups)
    }

    /// Whether `group` is a KIP-848 group with members.
    pub(crate) fn has_members(&self, group: &str) -> bool {
        self.groups().get(group).is_some_and(|g| !g.members.is_empty())
    }

    /// Joins, leaves or heartbeats; `state` resolves subscribed topic names.
    pub(crate) fn heartbeat(&self, hb: Heartbeat, state: &State) -> Result<Answer, ResponseError> {
        let mut groups = self.groups();
        let group = groups.entry(hb.group.clone()).or_default();
        let mut changed = false;
        let member_id = match hb.member_epoch {
            JOIN => {
                let Some(subscribed) = hb.subscribed.clone() else {
                    return Err(ResponseError::InvalidRequest);
                };
                let id =
                    if hb.member_id.is_empty() { Uuid::new_v4().to_string() } else { hb.member_id.clone() };
                // A member that joins again has given up whatever it had.
                group.members.insert(
                    id.clone(),
                    Member {
                        epoch: 0,
                        previous_epoch: 0,
                        instance_id: hb.instance_id.clone(),
                        rack_id: hb.rack_id.clone(),
                        client_id: hb.client_id.clone(),
                        client_host: hb.client_host.clone(),
                        subscribed,
                        rebalance_timeout: hb.rebalance_timeout,
                        assigned: BTreeSet::new(),
                        revoking: BTreeSet::new(),
                        revoking_since: None,
                        sent: None,
                        last_seen: Instant::now(),
                    },
                );
                changed = true;
                id
            }
            LEAVE | LEAVE_STATIC => {
                if group.members.remove(&hb.member_id).is_none() {
                    return Err(ResponseError::UnknownMemberId);
                }
                group.epoch += 1;
                retarget(group, state);
                return Ok(Answer { member_id: hb.member_id, epoch: hb.member_epoch, assignment: None });
            }
            epoch if epoch > 0 => {
                let m = group.members.get_mut(&hb.member_id).ok_or(ResponseError::UnknownMemberId)?;
                if epoch != m.epoch && epoch != m.previous_epoch {
                    return Err(ResponseError::FencedMemberEpoch);
                }
                m.last_seen = Instant::now();
                if let Some(subscribed) = &hb.subscribed
                    && *subscribed != m.subscribed
                {
                    m.subscribed = subscribed.clone();
                    changed = true;
                }
                if let Some(owned) = &hb.owned {
                    m.revoking.retain(|p| owned.contains(p));
                    if m.revoking.is_empty() {
                        m.revoking_since = None;
                    }
                }
                hb.member_id.clone()
            }
            _ => return Err(ResponseError::InvalidRequest),
        };
        let metadata = subscribed_metadata(group, state);
        if changed || metadata != group.metadata {
            group.epoch += 1;
            retarget(group, state);
        }
        reconcile(group, &member_id);
        let m = group.members.get_mut(&member_id).ok_or(ResponseError::UnknownMemberId)?;
        let stale = hb.member_epoch != m.epoch;
        let assignment = (stale || m.sent.as_ref() != Some(&m.assigned)).then(|| m.assigned.clone());
        if assignment.is_some() {
            m.sent = Some(m.assigned.clone());
        }
        Ok(Answer { member_id, epoch: m.epoch, assignment })
    }

    /// Checks an offset commit made by a member of a KIP-848 group (its member epoch in
    /// the generation field). A commit under an epoch the member has moved past is
    /// still its own; one from the future is stale.
    pub(crate) fn check_commit(&self, group: &str, member_id: &str, epoch: i32) -> Result<(), ResponseError> {
        let groups = self.groups();
        let g = groups.get(group).ok_or(ResponseError::UnknownMemberId)?;
        let m = g.members.get(member_id).ok_or(ResponseError::UnknownMemberId)?;
        if epoch > m.epoch || epoch < 0 {
            return Err(ResponseError::StaleMemberEpoch);
        }
        Ok(())
    }

    /// Drops members whose session lapsed or that did not release partitions within
    /// their rebalance timeout; their partitions go to the others.
    fn expire(&self, state: &State) {
        let now = Instant::now();
        let session = self.timings.session_timeout;
        let mut groups = self.groups();
        for (name, g) in groups.iter_mut() {
            let before = g.members.len();
            g.members.retain(|id, m| {
                let alive = now.duration_since(m.last_seen) <= session
                    && m.revoking_since.is_none_or(|t| now.duration_since(t) <= m.rebalance_timeout);
                if !alive {
                    tracing::info!(group = name, member = id, "consumer group member expired");
                }
                alive
            });
            if g.members.len() != before {
                g.epoch += 1;
                retarget(g, state);
            }
        }
        groups.retain(|_, g| !g.members.is_empty());
    }
}

/// The subscribed topics that exist, with their ids and sizes, in name order.
fn subscribed_metadata(group: &Group, state: &State) -> Vec<(String, Uuid, usize)> {
    let names: BTreeSet<&String> = group.members.values().flat_map(|m| m.subscribed.iter()).collect();
    names
        .into_iter()
        .filter_map(|n| state.topics.get(n).map(|t| (n.clone(), t.id, t.streams.len())))
        .collect()
}

/// Computes where every partition should go: each topic's partitions spread evenly over
/// the members subscribed to it, leaving a partition where it is whenever the balance
/// allows (fewer moves, fewer revocations).
fn retarget(group: &mut Group, state: &State) {
    group.metadata = subscribed_metadata(group, state);
    let mut target: BTreeMap<String, BTreeSet<Partition>> =
        group.members.keys().map(|id| (id.clone(), BTreeSet::new())).collect();
    for (name, id, partitions) in &group.metadata {
        let subscribers: Vec<&String> =
            group.members.iter().filter(|(_, m)| m.subscribed.contains(name)).map(|(id, _)| id).collect();
        if subscribers.is_empty() {
            continue;
        }
        let quota =
            |i: usize| partitions / subscribers.len() + usize::from(i < partitions % subscribers.len());
        let mut load: Vec<usize> = vec![0; subscribers.len()];
        let mut homeless = Vec::new();
        for p in 0..*partitions as i32 {
            let current = subscribers.iter().position(|s| {
                group.target.get(*s).is_some_and(|t| t.contains(&(*id, p)))
                    || group.members.get(*s).is_some_and(|m| m.assigned.contains(&(*id, p)))
            });
            match current {
                Some(i) if load[i] < quota(i) => {
                    load[i] += 1;
                    if let Some(t) = target.get_mut(subscribers[i]) {
                        t.insert((*id, p));
                    }
                }
                _ => homeless.push(p),
            }
        }
        for p in homeless {
            if let Some(i) = (0..subscribers.len()).find(|i| load[*i] < quota(*i)) {
                load[i] += 1;
                if let Some(t) = target.get_mut(subscribers[i]) {
                    t.insert((*id, p));
                }
            }
        }
    }
    group.target = target;
}

/// Moves one member towards its target: first it gives up what is no longer its own;
/// once it has, it takes the group's epoch and whatever of its target nobody else holds.
fn reconcile(group: &mut Group, member_id: &str) {
    let target = group.target.get(member_id).cloned().unwrap_or_default();
    let in_use: BTreeSet<Partition> = group
        .members
        .iter()
        .filter(|(id, _)| id.as_str() != member_id)
        .flat_map(|(_, m)| m.assigned.iter().chain(m.revoking.iter()).copied())
        .collect();
    let epoch = group.epoch;
    let Some(m) = group.members.get_mut(member_id) else { return };
    let lost: Vec<Partition> = m.assigned.difference(&target).copied().collect();
    if !lost.is_empty() {
        for p in lost {
            m.assigned.remove(&p);
            m.revoking.insert(p);
        }
        m.revoking_since.get_or_insert_with(Instant::now);
    }
    if !m.revoking.is_empty() {
        return;
    }
    if m.epoch != epoch {
        m.previous_epoch = m.epoch;
        m.epoch = epoch;
    }
    m.assigned.extend(target.into_iter().filter(|p| !in_use.contains(p)));
}

/// Expires lapsed members once a second, while the coordinator lives.
pub(crate) async fn reap(coordinator: std::sync::Weak<Coordinator>, engine: floe_stream::Engine) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        let Some(c) = coordinator.upgrade() else { return };
        c.expire(&engine.meta().state());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(topics: &[(&str, usize)]) -> State {
        let mut s = State::default();
        for (i, (name, partitions)) in topics.iter().enumerate() {
            s.topics.insert(
                name.to_string(),
                floe_stream::meta::Topic {
                    name: name.to_string(),
                    id: Uuid::from_u128(i as u128 + 1),
                    streams: (0..*partitions as u64).collect(),
                    configs: BTreeMap::new(),
                },
            );
        }
        s
    }

    fn hb(
        member: &str,
        epoch: i32,
        topics: Option<&[&str]>,
        owned: Option<&BTreeSet<Partition>>,
    ) -> Heartbeat {
        Heartbeat {
            group: "g".into(),
            member_id: member.into(),
            member_epoch: epoch,
            instance_id: None,
            rack_id: None,
            rebalance_timeout: Duration::from_secs(30),
            subscribed: topics.map(|t| t.iter().map(|s| s.to_string()).collect()),
            owned: owned.map(|o| o.iter().copied().collect()),
            client_id: "c".into(),
            client_host: "/127.0.0.1".into(),
        }
    }

    /// Heartbeats `member` reporting what it was last told it owns; returns the answer
    /// and the member's view afterwards.
    fn beat(c: &Coordinator, st: &State, member: &str, view: &mut (i32, BTreeSet<Partition>)) -> Answer {
        let a = c.heartbeat(hb(member, view.0, None, Some(&view.1)), st).unwrap();
        view.0 = a.epoch;
        if let Some(given) = &a.assignment {
            view.1 = given.clone();
        }
        a
    }

    #[test]
    fn partitions_move_only_after_their_owner_lets_go() {
        let c = Coordinator::new(Timings {
            heartbeat_interval: Duration::from_millis(100),
            session_timeout: Duration::from_secs(30),
        });
        let st = state(&[("t", 4)]);
        let a = c.heartbeat(hb("a", JOIN, Some(&["t"]), None), &st).unwrap();
        let mut va = (a.epoch, a.assignment.clone().unwrap());
        assert_eq!(va.1.len(), 4, "a lone member gets everything");
        let b = c.heartbeat(hb("b", JOIN, Some(&["t"]), None), &st).unwrap();
        let mut vb = (b.epoch, b.assignment.clone().unwrap());
        assert!(vb.1.is_empty(), "nothing is free until a lets go");
        // a is told to give up two; b still gets nothing while a owns them
        beat(&c, &st, "a", &mut va);
        assert_eq!(va.1.len(), 2);
        assert!(va.1.iter().all(|p| !vb.1.contains(p)));
        // a reports it released them; then b gets them and the group is stable
        beat(&c, &st, "a", &mut va);
        beat(&c, &st, "b", &mut vb);
        assert_eq!(vb.1.len(), 2);
        assert!(va.1.is_disjoint(&vb.1));
        assert_eq!(va.0, vb.0, "both at the group epoch");
        assert_eq!(c.groups()["g"].state(), "Stable");
        // an unchanged heartbeat carries no assignment
        assert_eq!(beat(&c, &st, "b", &mut vb).assignment, None);
        // a stale epoch is fenced; commits under a past epoch are fine, future ones not
        assert_eq!(
            c.heartbeat(hb("b", vb.0 + 5, None, None), &st).unwrap_err(),
            ResponseError::FencedMemberEpoch
        );
        assert!(c.check_commit("g", "b", vb.0).is_ok());
        assert_eq!(c.check_commit("g", "b", vb.0 + 1).unwrap_err(), ResponseError::StaleMemberEpoch);
        // a leaves: b takes everything
        c.heartbeat(hb("a", LEAVE, None, None), &st).unwrap();
        beat(&c, &st, "b", &mut vb);
        assert_eq!(vb.1.len(), 4);
    }

    #[test]
    fn members_subscribe_to_their_own_topics_and_see_new_partitions() {
        let c = Coordinator::new(Timings {
            heartbeat_interval: Duration::from_millis(100),
            session_timeout: Duration::from_secs(30),
        });
        let st = state(&[("x", 2), ("y", 3)]);
        let a = c.heartbeat(hb("a", JOIN, Some(&["x"]), None), &st).unwrap();
        let b = c.heartbeat(hb("b", JOIN, Some(&["y"]), None), &st).unwrap();
        assert_eq!(a.assignment.unwrap().len(), 2);
        assert_eq!(b.assignment.unwrap().len(), 3);
        let bigger = state(&[("x", 5), ("y", 3)]);
        let mut va = (a.epoch, BTreeSet::new());
        va.1 = c.groups()["g"].members["a"].assigned.clone();
        beat(&c, &bigger, "a", &mut va);
        assert_eq!(va.1.len(), 5, "partitions added to a subscribed topic are assigned");
        assert!(c.heartbeat(hb("z", JOIN, None, None), &st).is_err(), "a join needs a subscription");
    }
}
