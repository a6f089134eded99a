//! Reading an asynchronous job's result file as a stream: gzip or not (X's notes say small
//! results sometimes arrive un-gzipped; the first two bytes tell), then X's stats JSON walked
//! entity by entity and segment by segment, each row handed over as soon as it is parsed.
//!
//! Memory is bounded by one row (one entity's metrics for one segment), never by the file:
//! nothing here holds the compressed or the decompressed body.

use std::fmt;
use std::io::{self, BufRead, BufReader, Read};

use flate2::bufread::MultiGzDecoder;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::models::{IdData, JobResultInfo, JobResultRow, Segment};

/// Why reading a result file stopped.
#[derive(Debug)]
pub enum ReadError {
    /// The bytes could not be read (transport failure, corrupt gzip).
    Io(io::Error),
    /// The content is not X's stats JSON.
    Format(String),
    /// The consumer stopped taking rows.
    Stopped,
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Io(e) => write!(f, "reading the result file: {e}"),
            ReadError::Format(m) => write!(f, "the result file is not stats JSON: {m}"),
            ReadError::Stopped => f.write_str("the reader of the result file went away"),
        }
    }
}

impl std::error::Error for ReadError {}

const STOPPED: &str = "\u{0}rows receiver gone";

/// Reads one result file from `reader` (gzipped or plain), calling `emit` with each row in file
/// order. `emit` returning `false` stops the read with [`ReadError::Stopped`].
pub fn read_result<R: Read>(
    reader: R,
    mut emit: impl FnMut(JobResultRow) -> bool,
) -> Result<JobResultInfo, ReadError> {
    let mut buffered = BufReader::with_capacity(64 * 1024, reader);
    let head = buffered.fill_buf().map_err(ReadError::Io)?;
    let gzipped = head.len() >= 2 && head[0] == 0x1f && head[1] == 0x8b;
    let mut info = JobResultInfo {
        gzipped,
        ..JobResultInfo::default()
    };
    let result = if gzipped {
        let decoder = BufReader::with_capacity(64 * 1024, MultiGzDecoder::new(buffered));
        parse(decoder, &mut info, &mut emit)
    } else {
        parse(buffered, &mut info, &mut emit)
    };
    result.map(|()| info)
}

fn parse<R: Read>(
    reader: R,
    info: &mut JobResultInfo,
    emit: &mut dyn FnMut(JobResultRow) -> bool,
) -> Result<(), ReadError> {
    let mut de = serde_json::Deserializer::from_reader(reader);
    let outcome = File { info, emit }
        .deserialize(&mut de)
        .and_then(|()| de.end());
    outcome.map_err(|e| {
        if e.is_io() {
            let kind = e.io_error_kind().unwrap_or(io::ErrorKind::Other);
            ReadError::Io(io::Error::new(kind, e.to_string()))
        } else if e.to_string().starts_with(STOPPED) {
            ReadError::Stopped
        } else {
            ReadError::Format(e.to_string())
        }
    })
}

/// The top-level object.
struct File<'a> {
    info: &'a mut JobResultInfo,
    emit: &'a mut dyn FnMut(JobResultRow) -> bool,
}

impl<'de> DeserializeSeed<'de> for File<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

fn lenient_u32(v: Value) -> Option<u32> {
    match v {
        Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

impl<'de> Visitor<'de> for File<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a stats object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut saw_data = false;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "data" => {
                    saw_data = true;
                    map.next_value_seed(Entities {
                        info: &mut *self.info,
                        emit: &mut *self.emit,
                    })?;
                }
                "data_type" => self.info.data_type = map.next_value()?,
                "time_series_length" => {
                    self.info.time_series_length = lenient_u32(map.next_value()?);
                }
                "request" => {
                    let request: Value = map.next_value()?;
                    self.info.request_params = match request {
                        Value::Object(mut o) => o.remove("params").unwrap_or(Value::Null),
                        other => other,
                    };
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if !saw_data {
            return Err(de::Error::custom("no `data` member"));
        }
        Ok(())
    }
}

/// `data`: the entities (null counts as none).
struct Entities<'a> {
    info: &'a mut JobResultInfo,
    emit: &'a mut dyn FnMut(JobResultRow) -> bool,
}

impl<'de> DeserializeSeed<'de> for Entities<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for Entities<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of entities")
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(()) = seq.next_element_seed(Entity {
            info: &mut *self.info,
            emit: &mut *self.emit,
        })? {}
        Ok(())
    }
}

/// One entity: `{id, id_data: [...]}`. Rows stream out when `id` comes first (as X writes it);
/// segments met before the id wait for it.
struct Entity<'a> {
    info: &'a mut JobResultInfo,
    emit: &'a mut dyn FnMut(JobResultRow) -> bool,
}

impl<'de> DeserializeSeed<'de> for Entity<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

fn row<E: de::Error>(id: &str, item: IdData) -> Result<JobResultRow, E> {
    let segment = match item.segment {
        None | Some(Value::Null) => None,
        Some(v) => Some(Segment::deserialize(v).map_err(E::custom)?),
    };
    Ok(JobResultRow {
        entity_id: id.to_owned(),
        segment,
        metrics: item.metrics,
    })
}

impl<'de> Visitor<'de> for Entity<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an entity's stats")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut id: Option<String> = None;
        let mut waiting: Vec<IdData> = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "id" => {
                    id = Some(match map.next_value::<Value>()? {
                        Value::String(s) => s,
                        Value::Number(n) => n.to_string(),
                        other => {
                            return Err(de::Error::custom(format!("expected an id, got {other}")));
                        }
                    });
                }
                "id_data" => {
                    map.next_value_seed(Segments {
                        id: id.as_deref(),
                        waiting: &mut waiting,
                        info: &mut *self.info,
                        emit: &mut *self.emit,
                    })?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        self.info.entities += 1;
        if waiting.is_empty() {
            return Ok(());
        }
        let id = id.ok_or_else(|| de::Error::custom("an entity without id"))?;
        for item in waiting {
            let r = row(&id, item)?;
            self.info.rows += 1;
            if !(self.emit)(r) {
                return Err(de::Error::custom(STOPPED));
            }
        }
        Ok(())
    }
}

struct Segments<'a, 'b> {
    id: Option<&'b str>,
    waiting: &'b mut Vec<IdData>,
    info: &'a mut JobResultInfo,
    emit: &'a mut dyn FnMut(JobResultRow) -> bool,
}

impl<'de> DeserializeSeed<'de> for Segments<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for Segments<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of segments")
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(item) = seq.next_element::<IdData>()? {
            match self.id {
                Some(id) => {
                    let r = row(id, item)?;
                    self.info.rows += 1;
                    if !(self.emit)(r) {
                        return Err(de::Error::custom(STOPPED));
                    }
                }
                None => self.waiting.push(item),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::Compression;
    use flate2::write::GzEncoder;

    use super::*;

    const FILE: &str = r#"{"data_type":"stats","time_series_length":2,"data":[
        {"id":"a","id_data":[{"segment":{"segment_name":"iOS","segment_value":"0"},"metrics":{"impressions":[1,2]}},
                             {"segment":{"segment_name":"Android","segment_value":"1"},"metrics":{"impressions":[3,null]}}]},
        {"id_data":[{"segment":null,"metrics":{"impressions":null}}],"id":7},
        {"id":"empty","id_data":[]}],
        "request":{"params":{"entity":"CAMPAIGN"}}}"#;

    fn rows(bytes: &[u8]) -> (Vec<JobResultRow>, JobResultInfo) {
        let mut out = Vec::new();
        let info = read_result(bytes, |r| {
            out.push(r);
            true
        })
        .unwrap();
        (out, info)
    }

    fn gz(s: &str) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(s.as_bytes()).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn plain_and_gzipped_read_the_same() {
        let (plain, pinfo) = rows(FILE.as_bytes());
        let (zipped, zinfo) = rows(&gz(FILE));
        assert_eq!(plain, zipped);
        assert!(!pinfo.gzipped && zinfo.gzipped);
        assert_eq!(plain.len(), 3);
        assert_eq!(plain[0].entity_id, "a");
        assert_eq!(
            plain[1].segment.as_ref().unwrap().segment_name.as_deref(),
            Some("Android")
        );
        assert_eq!(
            plain[1].metrics.count_series("impressions"),
            Some(vec![Some(3), None])
        );
        assert_eq!(
            plain[2].entity_id, "7",
            "an id after its segments, as a number"
        );
        assert_eq!(plain[2].segment, None);
        assert_eq!(zinfo.entities, 3);
        assert_eq!(zinfo.rows, 3);
        assert_eq!(zinfo.time_series_length, Some(2));
        assert_eq!(zinfo.data_type.as_deref(), Some("stats"));
        assert_eq!(zinfo.request_params["entity"], "CAMPAIGN");
    }

    #[test]
    fn broken_files_are_errors() {
        let zipped = gz(FILE);
        let cut = &zipped[..zipped.len() / 2];
        assert!(matches!(
            read_result(cut, |_| true),
            Err(ReadError::Io(_) | ReadError::Format(_))
        ));
        assert!(matches!(
            read_result(&b"{\"data\":[{\"id\":\"a\""[..], |_| true),
            Err(ReadError::Format(_) | ReadError::Io(_))
        ));
        assert!(matches!(
            read_result(&b"[]"[..], |_| true),
            Err(ReadError::Format(_))
        ));
        assert!(matches!(
            read_result(&b"{\"data_type\":\"stats\"}"[..], |_| true),
            Err(ReadError::Format(_))
        ));
        assert!(matches!(
            read_result(&b"{\"data\":[]} x"[..], |_| true),
            Err(ReadError::Format(_))
        ));
        assert!(matches!(
            read_result(FILE.as_bytes(), |_| false),
            Err(ReadError::Stopped)
        ));
    }
}
