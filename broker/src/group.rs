//! The group coordinator (Kafka's classic protocol): members join, the leader assigns,
//! everyone syncs, heartbeats keep members alive. Committed offsets are kept in an
//! internal stream of the engine, so they survive restarts like any record; the
//! in-memory map is rebuilt from it at start-up.
//!
//! Floe is one coordinator for every group. Group state other than offsets is in memory,
//! as in Kafka after a coordinator move: members simply rejoin.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use floe_stream::Engine;
use kafka_protocol::ResponseError;
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::internal;

/// Name of the internal topic holding committed offsets. Not a legal Kafka topic name,
/// so no client can produce to it or fetch from it.
pub(crate) const OFFSETS_TOPIC: &str = "floe:group-offsets";

/// Where a group is in a rebalance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
}

impl Phase {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Phase::Empty => "Empty",
            Phase::PreparingRebalance => "PreparingRebalance",
            Phase::CompletingRebalance => "CompletingRebalance",
            Phase::Stable => "Stable",
        }
    }
}

/// What a joining member learns when the join phase completes.
#[derive(Debug, Clone)]
pub(crate) struct Joined {
    pub(crate) generation: i32,
    pub(crate) protocol_type: String,
    pub(crate) protocol: String,
    pub(crate) leader: String,
    pub(crate) member_id: String,
    /// Every member's id, instance id and metadata: for the leader only.
    pub(crate) members: Vec<(String, Option<String>, Bytes)>,
}

#[derive(Debug)]
pub(crate) struct Member {
    pub(crate) instance_id: Option<String>,
    pub(crate) client_id: String,
    pub(crate) client_host: String,
    session_timeout: Duration,
    rebalance_timeout: Duration,
    pub(crate) protocols: Vec<(String, Bytes)>,
    pub(crate) assignment: Bytes,
    last_seen: Instant,
    joining: Option<oneshot::Sender<Result<Joined, ResponseError>>>,
    syncing: Option<oneshot::Sender<Result<Bytes, ResponseError>>>,
}

#[derive(Debug)]
pub(crate) struct Group {
    pub(crate) phase: Phase,
    pub(crate) generation: i32,
    pub(crate) protocol_type: Option<String>,
    pub(crate) protocol: Option<String>,
    pub(crate) leader: Option<String>,
    pub(crate) members: BTreeMap<String, Member>,
    /// Bumped at each rebalance, so a stale timer does nothing.
    rebalance: u64,
}

impl Group {
    fn new() -> Self {
        Group {
            phase: Phase::Empty,
            generation: 0,
            protocol_type: None,
            protocol: None,
            leader: None,
            members: BTreeMap::new(),
            rebalance: 0,
        }
    }
}

/// A committed offset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Committed {
    pub(crate) offset: i64,
    pub(crate) leader_epoch: i32,
    pub(crate) metadata: Option<String>,
}

/// One record of the offsets stream.
#[derive(Debug, Serialize, Deserialize)]
struct OffsetRecord {
    group: String,
    /// (topic, partition, committed); `None` deletes.
    offsets: Vec<(String, i32, Option<Committed>)>,
    /// The whole group's offsets are deleted.
    #[serde(default)]
    delete_group: bool,
}

type Offsets = BTreeMap<(String, i32), Committed>;

/// The coordinator for every group.
#[derive(Debug)]
pub(crate) struct Coordinator {
    engine: Engine,
    offsets_stream: u64,
    groups: Mutex<HashMap<String, Group>>,
    offsets: Mutex<HashMap<String, Offsets>>,
}

/// A join request's fields, as the coordinator needs them.
#[derive(Debug)]
pub(crate) struct JoinRequest {
    pub(crate) group: String,
    pub(crate) member_id: String,
    pub(crate) instance_id: Option<String>,
    pub(crate) client_id: String,
    pub(crate) client_host: String,
    pub(crate) session_timeout: Duration,
    pub(crate) rebalance_timeout: Duration,
    pub(crate) protocol_type: String,
    pub(crate) protocols: Vec<(String, Bytes)>,
    /// Whether the client handles MEMBER_ID_REQUIRED (JoinGroup v4+).
    pub(crate) requires_known_member: bool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Coordinator {
    /// Opens the offsets stream (creating it on first start) and replays it.
    pub(crate) async fn start(engine: Engine) -> floe_stream::Result<Arc<Coordinator>> {
        let offsets_stream = internal::stream(&engine, OFFSETS_TOPIC).await?;
        let mut offsets: HashMap<String, Offsets> = HashMap::new();
        internal::replay::<OffsetRecord>(&engine, offsets_stream, |record| apply(&mut offsets, record))
            .await?;
        tracing::info!(groups = offsets.len(), "committed offsets loaded");
        let coordinator = Arc::new(Coordinator {
            engine,
            offsets_stream,
            groups: Mutex::new(HashMap::new()),
            offsets: Mutex::new(offsets),
        });
        tokio::spawn(reap(Arc::downgrade(&coordinator)));
        Ok(coordinator)
    }

    pub(crate) fn groups(&self) -> MutexGuard<'_, HashMap<String, Group>> {
        lock(&self.groups)
    }

    /// Every group that has members or offsets.
    pub(crate) fn group_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.groups().keys().cloned().collect();
        ids.extend(lock(&self.offsets).keys().cloned());
        ids.sort();
        ids.dedup();
        ids
    }

    pub(crate) async fn join(self: &Arc<Self>, req: JoinRequest) -> Result<Joined, ResponseError> {
        let rx = {
            let mut groups = self.groups();
            let group = groups.entry(req.group.clone()).or_insert_with(Group::new);
            if req.protocols.is_empty() || req.protocol_type.is_empty() {
                return Err(ResponseError::InconsistentGroupProtocol);
            }
            if !group.members.is_empty() {
                if group.protocol_type.as_deref() != Some(req.protocol_type.as_str()) {
                    return Err(ResponseError::InconsistentGroupProtocol);
                }
                let shared = req.protocols.iter().any(|(name, _)| {
                    group.members.values().all(|m| m.protocols.iter().any(|(n, _)| n == name))
                });
                if !shared {
                    return Err(ResponseError::InconsistentGroupProtocol);
                }
            }
            let mut member_id = req.member_id.clone();
            if member_id.is_empty() {
                member_id = format!("{}-{}", req.client_id, uuid::Uuid::new_v4());
                if req.requires_known_member {
                    // KIP-394: the client rejoins with this id.
                    return Ok(Joined {
                        generation: -1,
                        protocol_type: String::new(),
                        protocol: String::new(),
                        leader: String::new(),
                        member_id,
                        members: Vec::new(),
                    });
                }
            }
            let (tx, rx) = oneshot::channel();
            let member = group.members.entry(member_id.clone()).or_insert_with(|| Member {
                instance_id: req.instance_id.clone(),
                client_id: req.client_id.clone(),
                client_host: req.client_host.clone(),
                session_timeout: req.session_timeout,
                rebalance_timeout: req.rebalance_timeout,
                protocols: Vec::new(),
                assignment: Bytes::new(),
                last_seen: Instant::now(),
                joining: None,
                syncing: None,
            });
            member.protocols = req.protocols;
            member.session_timeout = req.session_timeout;
            member.rebalance_timeout = req.rebalance_timeout;
            member.last_seen = Instant::now();
            if let Some(old) = member.joining.replace(tx) {
                let _ = old.send(Err(ResponseError::RebalanceInProgress));
            }
            group.protocol_type = Some(req.protocol_type);
            if group.phase != Phase::PreparingRebalance {
                self.prepare_rebalance(&req.group, group);
            }
            if group.members.values().all(|m| m.joining.is_some()) {
                complete_join(group);
            }
            rx
        };
        rx.await.unwrap_or(Err(ResponseError::RebalanceInProgress))
    }

    /// Moves a group to PreparingRebalance and arms the timer that ends the join phase
    /// without members that do not rejoin in time.
    fn prepare_rebalance(self: &Arc<Self>, name: &str, group: &mut Group) {
        for m in group.members.values_mut() {
            if let Some(s) = m.syncing.take() {
                let _ = s.send(Err(ResponseError::RebalanceInProgress));
            }
        }
        group.phase = Phase::PreparingRebalance;
        group.rebalance += 1;
        let rebalance = group.rebalance;
        let wait = group.members.values().map(|m| m.rebalance_timeout).max().unwrap_or_default();
        let me = Arc::downgrade(self);
        let name = name.to_string();
        tokio::spawn(async move {
            tokio::time::sleep(wait).await;
            let Some(me) = me.upgrade() else { return };
            let mut groups = me.groups();
            if let Some(group) = groups.get_mut(&name)
                && group.phase == Phase::PreparingRebalance
                && group.rebalance == rebalance
            {
                group.members.retain(|_, m| m.joining.is_some());
                complete_join(group);
            }
        });
    }

    pub(crate) async fn sync(
        &self,
        group: &str,
        generation: i32,
        member_id: &str,
        assignments: Vec<(String, Bytes)>,
    ) -> Result<Bytes, ResponseError> {
        let rx = {
            let mut groups = self.groups();
            let g = groups.get_mut(group).ok_or(ResponseError::UnknownMemberId)?;
            check_member(g, generation, member_id)?;
            match g.phase {
                Phase::PreparingRebalance => return Err(ResponseError::RebalanceInProgress),
                Phase::Empty => return Err(ResponseError::UnknownMemberId),
                Phase::Stable => {
                    return Ok(g.members.get(member_id).map(|m| m.assignment.clone()).unwrap_or_default());
                }
                Phase::CompletingRebalance => {}
            }
            let (tx, rx) = oneshot::channel();
            if let Some(m) = g.members.get_mut(member_id) {
                m.syncing = Some(tx);
            }
            if g.leader.as_deref() == Some(member_id) {
                let mut given: HashMap<String, Bytes> = assignments.into_iter().collect();
                for (id, m) in g.members.iter_mut() {
                    m.assignment = given.remove(id).unwrap_or_default();
                    if let Some(s) = m.syncing.take() {
                        let _ = s.send(Ok(m.assignment.clone()));
                    }
                }
                g.phase = Phase::Stable;
            }
            rx
        };
        rx.await.unwrap_or(Err(ResponseError::RebalanceInProgress))
    }

    pub(crate) fn heartbeat(
        &self,
        group: &str,
        generation: i32,
        member_id: &str,
    ) -> Result<(), ResponseError> {
        let mut groups = self.groups();
        let g = groups.get_mut(group).ok_or(ResponseError::UnknownMemberId)?;
        check_member(g, generation, member_id)?;
        if let Some(m) = g.members.get_mut(member_id) {
            m.last_seen = Instant::now();
        }
        match g.phase {
            Phase::PreparingRebalance => Err(ResponseError::RebalanceInProgress),
            _ => Ok(()),
        }
    }

    /// Removes members; the rest rebalance.
    pub(crate) fn leave(
        self: &Arc<Self>,
        group: &str,
        member_ids: &[String],
    ) -> Vec<Result<(), ResponseError>> {
        let mut groups = self.groups();
        let Some(g) = groups.get_mut(group) else {
            return member_ids.iter().map(|_| Err(ResponseError::UnknownMemberId)).collect();
        };
        let results = member_ids
            .iter()
            .map(|id| match g.members.remove(id) {
                Some(m) => {
                    if let Some(j) = m.joining {
                        let _ = j.send(Err(ResponseError::UnknownMemberId));
                    }
                    Ok(())
                }
                None => Err(ResponseError::UnknownMemberId),
            })
            .collect();
        self.members_changed(group, g);
        results
    }

    fn members_changed(self: &Arc<Self>, name: &str, g: &mut Group) {
        if g.members.is_empty() {
            g.phase = Phase::Empty;
            g.leader = None;
            g.protocol = None;
            g.generation += 1;
            g.rebalance += 1;
        } else if g.phase == Phase::PreparingRebalance {
            if g.members.values().all(|m| m.joining.is_some()) {
                complete_join(g);
            }
        } else {
            self.prepare_rebalance(name, g);
        }
    }

    fn expire(self: &Arc<Self>) {
        let now = Instant::now();
        let mut groups = self.groups();
        let names: Vec<String> = groups.keys().cloned().collect();
        for name in names {
            let Some(g) = groups.get_mut(&name) else { continue };
            let before = g.members.len();
            g.members.retain(|id, m| {
                let alive = m.joining.is_some() || now.duration_since(m.last_seen) <= m.session_timeout;
                if !alive {
                    tracing::info!(group = name, member = id, "session expired");
                }
                alive
            });
            if g.members.len() != before {
                self.members_changed(&name, g);
            }
            if g.members.is_empty() && !lock(&self.offsets).contains_key(&name) {
                groups.remove(&name);
            }
        }
    }

    /// Checks that a commit may be made: simple (generation -1, no member) commits are
    /// always allowed; group members must be current.
    pub(crate) fn check_commit(
        &self,
        group: &str,
        generation: i32,
        member_id: &str,
    ) -> Result<(), ResponseError> {
        if generation < 0 && member_id.is_empty() {
            return match self.groups().get(group) {
                Some(g) if !g.members.is_empty() => Err(ResponseError::UnknownMemberId),
                _ => Ok(()),
            };
        }
        let groups = self.groups();
        let g = groups.get(group).ok_or(ResponseError::IllegalGeneration)?;
        check_member(g, generation, member_id)?;
        if g.phase == Phase::PreparingRebalance {
            return Err(ResponseError::RebalanceInProgress);
        }
        Ok(())
    }

    /// Makes offsets durable in the offsets stream, then visible.
    pub(crate) async fn commit(
        &self,
        group: &str,
        offsets: Vec<(String, i32, Option<Committed>)>,
        delete_group: bool,
    ) -> floe_stream::Result<()> {
        let record = OffsetRecord { group: group.to_string(), offsets, delete_group };
        internal::append(&self.engine, self.offsets_stream, &record).await?;
        apply(&mut lock(&self.offsets), record);
        Ok(())
    }

    pub(crate) fn committed(&self, group: &str) -> Offsets {
        lock(&self.offsets).get(group).cloned().unwrap_or_default()
    }

    pub(crate) fn has_offsets(&self, group: &str) -> bool {
        lock(&self.offsets).contains_key(group)
    }
}

fn apply(offsets: &mut HashMap<String, Offsets>, record: OffsetRecord) {
    if record.delete_group {
        offsets.remove(&record.group);
        return;
    }
    let group = offsets.entry(record.group.clone()).or_default();
    for (topic, partition, committed) in record.offsets {
        match committed {
            Some(c) => {
                group.insert((topic, partition), c);
            }
            None => {
                group.remove(&(topic, partition));
            }
        }
    }
    if group.is_empty() {
        offsets.remove(&record.group);
    }
}

fn check_member(g: &Group, generation: i32, member_id: &str) -> Result<(), ResponseError> {
    if !g.members.contains_key(member_id) {
        return Err(ResponseError::UnknownMemberId);
    }
    if generation != g.generation {
        return Err(ResponseError::IllegalGeneration);
    }
    Ok(())
}

/// Ends the join phase: a new generation, a protocol every member speaks, a leader, and
/// an answer to every member waiting in JoinGroup.
fn complete_join(g: &mut Group) {
    if g.members.is_empty() {
        g.phase = Phase::Empty;
        return;
    }
    g.generation += 1;
    g.rebalance += 1;
    let leader = g
        .leader
        .clone()
        .filter(|l| g.members.contains_key(l))
        .or_else(|| g.members.keys().next().cloned())
        .unwrap_or_default();
    let protocol = g.members.get(&leader).and_then(|l| {
        l.protocols
            .iter()
            .map(|(name, _)| name)
            .find(|name| g.members.values().all(|m| m.protocols.iter().any(|(n, _)| n == *name)))
            .cloned()
    });
    let Some(protocol) = protocol else {
        for m in g.members.values_mut() {
            if let Some(j) = m.joining.take() {
                let _ = j.send(Err(ResponseError::InconsistentGroupProtocol));
            }
        }
        return;
    };
    let members: Vec<(String, Option<String>, Bytes)> = g
        .members
        .iter()
        .map(|(id, m)| {
            let metadata =
                m.protocols.iter().find(|(n, _)| *n == protocol).map(|(_, b)| b.clone()).unwrap_or_default();
            (id.clone(), m.instance_id.clone(), metadata)
        })
        .collect();
    g.leader = Some(leader.clone());
    g.protocol = Some(protocol.clone());
    g.phase = Phase::CompletingRebalance;
    let protocol_type = g.protocol_type.clone().unwrap_or_default();
    for (id, m) in g.members.iter_mut() {
        m.last_seen = Instant::now();
        if let Some(j) = m.joining.take() {
            let _ = j.send(Ok(Joined {
                generation: g.generation,
                protocol_type: protocol_type.clone(),
                protocol: protocol.clone(),
                leader: leader.clone(),
                member_id: id.clone(),
                members: if *id == leader { members.clone() } else { Vec::new() },
            }));
        }
    }
}

/// Expires members whose sessions lapsed, once a second, while the coordinator lives.
async fn reap(coordinator: std::sync::Weak<Coordinator>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        let Some(c) = coordinator.upgrade() else { return };
        c.expire();
    }
}
