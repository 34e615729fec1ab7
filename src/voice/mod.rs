//! Voice calls (叫号语音): "请 A012 号到 3 号窗口办理", put together from
//! recorded segments (a chime, 请, letters, digits, 号, 到, 十, 百, 号窗口,
//! 办理) in a folder the hall can fill with professional recordings. The
//! repository ships a generated set (`assets/voice/`, made by
//! `assets/voice/make-voice.sh`).
//!
//! Calls are queued and spoken one after another, never cutting each other
//! off; a recall is announced again. Output goes to ALSA through `aplay`
//! (no build-time dependency), to WAV files (tests, trials), or nowhere. A
//! missing sound card is a logged warning, never a stop.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crossbeam_channel::{bounded, Receiver, Sender, TrySendError};
use serde::Deserialize;
use tokio::sync::broadcast;

use crate::domain::WindowNo;
use crate::engine::{Effect, EngineHandle};

/// What can go wrong with the voice.
#[derive(Debug, thiserror::Error)]
pub enum VoiceError {
    #[error("{dir}: missing voice segments {}", .names.iter().map(|n| format!("{n}.wav")).collect::<Vec<_>>().join(", "))]
    Missing { dir: PathBuf, names: Vec<String> },
    #[error("{file}: not a usable WAV file: {problem}")]
    BadWav { file: PathBuf, problem: String },
    #[error("cannot say `{0}`: a ticket label is capital letters and digits")]
    Unsayable(String),
    #[error("audio output failed: {0}")]
    Output(String),
}

/// A mono 16-bit clip.
#[derive(Clone, PartialEq, Eq)]
pub struct Clip {
    pub rate: u32,
    pub samples: Vec<i16>,
}

impl std::fmt::Debug for Clip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Clip({} samples at {} Hz)", self.samples.len(), self.rate)
    }
}

impl Clip {
    /// Read a WAV file of any rate, channel count and sample format, as mono 16-bit.
    pub fn read(file: &Path) -> Result<Clip, VoiceError> {
        let bad = |problem: String| VoiceError::BadWav {
            file: file.to_path_buf(),
            problem,
        };
        let mut r = hound::WavReader::open(file).map_err(|e| bad(e.to_string()))?;
        let spec = r.spec();
        let channels = spec.channels.max(1) as usize;
        // Every sample as 16-bit (exact for 16-bit files), then channels averaged.
        let values: Vec<i32> = match spec.sample_format {
            hound::SampleFormat::Float => r
                .samples::<f32>()
                .map(|s| s.map(|v| (v.clamp(-1.0, 1.0) * 32767.0).round() as i32))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| bad(e.to_string()))?,
            hound::SampleFormat::Int => {
                let bits = spec.bits_per_sample as i32;
                r.samples::<i32>()
                    .map(|s| {
                        s.map(|v| {
                            if bits >= 16 {
                                v >> (bits - 16)
                            } else {
                                v << (16 - bits)
                            }
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| bad(e.to_string()))?
            }
        };
        if values.is_empty() {
            return Err(bad("no samples".into()));
        }
        let samples = values
            .chunks(channels)
            .map(|f| (f.iter().sum::<i32>() / f.len() as i32).clamp(i16::MIN as i32, i16::MAX as i32) as i16)
            .collect();
        Ok(Clip {
            rate: spec.sample_rate,
            samples,
        })
    }

    /// The same sound at another rate (linear interpolation: fine for speech).
    pub fn resampled(&self, rate: u32) -> Clip {
        if rate == self.rate || self.samples.is_empty() {
            return Clip {
                rate,
                samples: self.samples.clone(),
            };
        }
        let n = (self.samples.len() as u64 * rate as u64 / self.rate as u64).max(1) as usize;
        let step = self.rate as f64 / rate as f64;
        let last = self.samples.len() - 1;
        let samples = (0..n)
            .map(|i| {
                let pos = i as f64 * step;
                let j = (pos as usize).min(last);
                let k = (j + 1).min(last);
                let t = pos - j as f64;
                (self.samples[j] as f64 * (1.0 - t) + self.samples[k] as f64 * t).round() as i16
            })
            .collect();
        Clip { rate, samples }
    }

    pub fn seconds(&self) -> f64 {
        self.samples.len() as f64 / self.rate as f64
    }

    /// The clip as a WAV file.
    pub fn to_wav(&self) -> Vec<u8> {
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: self.rate,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut out = std::io::Cursor::new(Vec::with_capacity(44 + self.samples.len() * 2));
        {
            let mut w = hound::WavWriter::new(&mut out, spec).expect("writing to memory");
            let mut w16 = w.get_i16_writer(self.samples.len() as u32);
            for s in &self.samples {
                w16.write_sample(*s);
            }
            w16.flush().expect("writing to memory");
            w.finalize().expect("writing to memory");
        }
        out.into_inner()
    }
}

/// The segment files a voice folder must hold (`NAME.wav`).
pub fn segment_names() -> Vec<String> {
    let mut names: Vec<String> = [
        "chime",
        "qing",
        "hao",
        "dao",
        "hao-chuangkou",
        "banli",
        "shi",
        "bai",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    names.extend(('0'..='9').map(String::from));
    names.extend(('A'..='Z').map(String::from));
    names
}

/// The recorded segments, all at one rate (the chime's).
pub struct Segments {
    dir: PathBuf,
    clips: BTreeMap<String, Clip>,
    rate: u32,
}

impl std::fmt::Debug for Segments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Segments({}, {} clips at {} Hz)",
            self.dir.display(),
            self.clips.len(),
            self.rate
        )
    }
}

impl Segments {
    /// Load every segment of a folder; recordings at other rates or in
    /// stereo are converted to the chime's rate, mono.
    pub fn load(dir: &Path) -> Result<Segments, VoiceError> {
        let names = segment_names();
        let missing: Vec<String> = names
            .iter()
            .filter(|n| !dir.join(format!("{n}.wav")).is_file())
            .cloned()
            .collect();
        if !missing.is_empty() {
            return Err(VoiceError::Missing {
                dir: dir.to_path_buf(),
                names: missing,
            });
        }
        let mut clips = BTreeMap::new();
        for n in &names {
            clips.insert(n.clone(), Clip::read(&dir.join(format!("{n}.wav")))?);
        }
        let rate = clips["chime"].rate;
        for c in clips.values_mut() {
            if c.rate != rate {
                *c = c.resampled(rate);
            }
        }
        Ok(Segments {
            dir: dir.to_path_buf(),
            clips,
            rate,
        })
    }

    pub fn rate(&self) -> u32 {
        self.rate
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn clip(&self, name: &str) -> Option<&Clip> {
        self.clips.get(name)
    }

    /// The announcement of a call: the chime, then the sentence `repeat`
    /// times with `pause_ms` of silence between.
    pub fn compose(
        &self,
        label: &str,
        window: WindowNo,
        repeat: u32,
        pause_ms: u32,
    ) -> Result<Clip, VoiceError> {
        let words = call_words(label, window)?;
        let mut samples = self.clips["chime"].samples.clone();
        let pause = vec![0i16; (self.rate as u64 * pause_ms as u64 / 1000) as usize];
        for r in 0..repeat.max(1) {
            if r > 0 {
                samples.extend_from_slice(&pause);
            }
            for w in &words {
                samples.extend_from_slice(&self.clips[w.as_str()].samples);
            }
        }
        Ok(Clip {
            rate: self.rate,
            samples,
        })
    }
}

/// A window number as spoken: 3 → 三, 10 → 十, 12 → 十二, 20 → 二十,
/// 105 → 一百零五, 110 → 一百一十; from 1000 on, digit by digit.
pub fn window_words(n: WindowNo) -> Vec<String> {
    let d = |x: u16| x.to_string();
    let tens = |t: u16, u: u16, lead: bool| -> Vec<String> {
        let mut v = Vec::new();
        if t > 0 {
            if t > 1 || lead {
                v.push(d(t));
            }
            v.push("shi".into());
        }
        if u > 0 || (t == 0 && !lead) {
            v.push(d(u));
        }
        v
    };
    match n {
        0..=99 => tens(n / 10, n % 10, false),
        100..=999 => {
            let mut v = vec![d(n / 100), "bai".to_string()];
            let rest = n % 100;
            if rest == 0 {
            } else if rest < 10 {
                v.push("0".into());
                v.push(d(rest));
            } else {
                v.extend(tens(rest / 10, rest % 10, true));
            }
            v
        }
        _ => n.to_string().chars().map(String::from).collect(),
    }
}

/// The segments of "请 {label} 号到 {window} 号窗口办理", in order. Ticket
/// numbers are read digit by digit (A012: A 零 一 二), as halls do.
pub fn call_words(label: &str, window: WindowNo) -> Result<Vec<String>, VoiceError> {
    if label.is_empty()
        || !label
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
    {
        return Err(VoiceError::Unsayable(label.to_string()));
    }
    let mut w = vec!["qing".to_string()];
    w.extend(label.chars().map(String::from));
    w.push("hao".into());
    w.push("dao".into());
    w.extend(window_words(window));
    w.push("hao-chuangkou".into());
    w.push("banli".into());
    Ok(w)
}

/// Where announcements are heard.
pub trait Speaker: Send {
    /// Play `clip` to the end. `name` says what it is (for files and logs).
    fn play(&mut self, clip: &Clip, name: &str) -> Result<(), VoiceError>;
}

/// ALSA through `aplay` (alsa-utils): no sound library to build against.
pub struct Aplay {
    pub device: String,
}

impl Speaker for Aplay {
    fn play(&mut self, clip: &Clip, _name: &str) -> Result<(), VoiceError> {
        let mut child = Command::new("aplay")
            .args(["-q", "-D", &self.device, "-t", "wav", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| VoiceError::Output(format!("cannot run aplay: {e}")))?;
        let wav = clip.to_wav();
        if let Some(mut stdin) = child.stdin.take() {
            // aplay exits early without a card: a broken pipe here is reported below.
            let _ = stdin.write_all(&wav);
        }
        let out = child
            .wait_with_output()
            .map_err(|e| VoiceError::Output(format!("aplay: {e}")))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(VoiceError::Output(format!(
                "aplay -D {}: {}",
                self.device,
                String::from_utf8_lossy(&out.stderr)
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .collect::<Vec<_>>()
                    .join("; ")
            )))
        }
    }
}

/// Each announcement as a numbered WAV file in a folder: `0001-A012-w3.wav`.
pub struct WavDir {
    dir: PathBuf,
    next: u64,
}

impl WavDir {
    pub fn new(dir: &Path) -> WavDir {
        let next = std::fs::read_dir(dir)
            .map(|r| {
                r.filter_map(Result::ok)
                    .filter(|e| e.path().extension().is_some_and(|x| x == "wav"))
                    .count() as u64
            })
            .unwrap_or(0)
            + 1;
        WavDir {
            dir: dir.to_path_buf(),
            next,
        }
    }
}

impl Speaker for WavDir {
    fn play(&mut self, clip: &Clip, name: &str) -> Result<(), VoiceError> {
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| VoiceError::Output(format!("{}: {e}", self.dir.display())))?;
        let path = self.dir.join(format!("{:04}-{name}.wav", self.next));
        let tmp = path.with_extension("wav.tmp");
        std::fs::write(&tmp, clip.to_wav())
            .and_then(|_| std::fs::rename(&tmp, &path))
            .map_err(|e| VoiceError::Output(format!("{}: {e}", path.display())))?;
        self.next += 1;
        Ok(())
    }
}

/// No sound (a hall without a speaker).
pub struct Silent;

impl Speaker for Silent {
    fn play(&mut self, _clip: &Clip, _name: &str) -> Result<(), VoiceError> {
        Ok(())
    }
}

/// Where the voice goes, as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VoiceOutput {
    Alsa { device: String },
    WavDir(PathBuf),
    None,
}

impl VoiceOutput {
    pub fn speaker(&self) -> Box<dyn Speaker> {
        match self {
            VoiceOutput::Alsa { device } => Box::new(Aplay {
                device: device.clone(),
            }),
            VoiceOutput::WavDir(dir) => Box::new(WavDir::new(dir)),
            VoiceOutput::None => Box::new(Silent),
        }
    }
}

/// The checked `[voice]` section.
#[derive(Debug, Clone)]
pub struct VoiceSettings {
    pub segments: Arc<Segments>,
    /// How many times the sentence is said per call.
    pub repeat: u32,
    /// Silence between repeats.
    pub pause_ms: u32,
    pub output: VoiceOutput,
}

/// `[voice]` as written in the configuration file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawVoice {
    #[serde(default = "yes")]
    enabled: bool,
    #[serde(default = "d_segments")]
    segments: PathBuf,
    #[serde(default = "d_repeat")]
    repeat: u32,
    #[serde(default = "d_pause")]
    pause_ms: u32,
    #[serde(default = "d_output")]
    output: String,
    #[serde(default = "d_device")]
    alsa_device: String,
    #[serde(default = "d_wav_dir")]
    wav_dir: PathBuf,
}

fn yes() -> bool {
    true
}
fn d_segments() -> PathBuf {
    PathBuf::from("voice")
}
fn d_repeat() -> u32 {
    2
}
fn d_pause() -> u32 {
    800
}
fn d_output() -> String {
    "alsa".into()
}
fn d_device() -> String {
    "default".into()
}
fn d_wav_dir() -> PathBuf {
    PathBuf::from("voice-calls")
}

impl RawVoice {
    /// Check the section (loading the segments): the settings (None when
    /// disabled) and the problems as (key, what is wrong).
    pub fn check(
        &self,
        resolve: impl Fn(&Path) -> PathBuf,
    ) -> (Option<VoiceSettings>, Vec<(String, String)>) {
        let mut problems = Vec::new();
        if !(1..=5).contains(&self.repeat) {
            problems.push(("voice.repeat".to_string(), "must be 1–5".to_string()));
        }
        if self.pause_ms > 5000 {
            problems.push(("voice.pause_ms".into(), "must be 0–5000".into()));
        }
        let output = match self.output.as_str() {
            "alsa" => VoiceOutput::Alsa {
                device: self.alsa_device.clone(),
            },
            "wav" => VoiceOutput::WavDir(resolve(&self.wav_dir)),
            "none" => VoiceOutput::None,
            other => {
                problems.push((
                    "voice.output".into(),
                    format!("unknown output `{other}` (use alsa, wav or none)"),
                ));
                VoiceOutput::None
            }
        };
        if !self.enabled {
            return (None, problems);
        }
        let segments = match Segments::load(&resolve(&self.segments)) {
            Ok(s) => Some(Arc::new(s)),
            Err(e) => {
                problems.push(("voice.segments".into(), e.to_string()));
                None
            }
        };
        let settings = segments.map(|segments| VoiceSettings {
            segments,
            repeat: self.repeat,
            pause_ms: self.pause_ms,
            output,
        });
        (settings, problems)
    }
}

struct Job {
    label: String,
    window: WindowNo,
}

/// Announcements waiting before new ones are dropped (with a warning).
const QUEUE_DEPTH: usize = 64;

/// Speaks calls one after another on a thread of its own.
#[derive(Clone)]
pub struct Announcer {
    tx: Sender<Job>,
    /// Announcements played to the end.
    pub spoken: Arc<AtomicU64>,
}

impl Announcer {
    pub fn new(settings: &VoiceSettings, speaker: Box<dyn Speaker>) -> Announcer {
        let (tx, rx) = bounded(QUEUE_DEPTH);
        let spoken = Arc::new(AtomicU64::new(0));
        let s = settings.clone();
        let count = spoken.clone();
        std::thread::Builder::new()
            .name("hallq-voice".into())
            .spawn(move || speak(rx, s, speaker, count))
            .expect("spawning the voice thread");
        Announcer { tx, spoken }
    }

    /// Queue a call; it is spoken after those before it.
    pub fn announce(&self, label: &str, window: WindowNo) {
        let job = Job {
            label: label.to_string(),
            window,
        };
        if let Err(TrySendError::Full(j)) = self.tx.try_send(job) {
            tracing::warn!(label = %j.label, window = j.window, "voice queue full: call not announced");
        }
    }
}

fn speak(rx: Receiver<Job>, s: VoiceSettings, mut speaker: Box<dyn Speaker>, spoken: Arc<AtomicU64>) {
    let mut failing = false;
    for job in rx {
        let clip = match s.segments.compose(&job.label, job.window, s.repeat, s.pause_ms) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "voice call skipped");
                continue;
            }
        };
        let name = format!("{}-w{}", job.label, job.window);
        match speaker.play(&clip, &name) {
            Ok(()) => {
                if failing {
                    tracing::info!("voice output works again");
                }
                failing = false;
                spoken.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                // A hall without a sound card still runs; say so once, not on every call.
                if !failing {
                    tracing::warn!(error = %e, "voice call not heard; the hall runs on");
                }
                failing = true;
            }
        }
    }
}

/// Start the voice: every call and recall the engine commits is announced.
/// Call from inside the tokio runtime.
pub fn start(engine: &EngineHandle, settings: &VoiceSettings) -> Announcer {
    let announcer = Announcer::new(settings, settings.output.speaker());
    let a = announcer.clone();
    let mut effects = engine.subscribe();
    tokio::spawn(async move {
        loop {
            match effects.recv().await {
                Ok(Effect::Announce { label, window }) => a.announce(&label, window),
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(
                        missed = n,
                        "voice fell behind the engine; some calls were not announced"
                    );
                }
                Err(broadcast::error::RecvError::Closed) => break,
            }
        }
    });
    tracing::info!(segments = %settings.segments.dir().display(), output = ?settings.output, "voice calls started");
    announcer
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    fn repo_voice() -> Segments {
        Segments::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/voice")).unwrap()
    }

    #[test]
    fn the_shipped_segments_are_words_not_silence() {
        let s = repo_voice();
        assert_eq!(s.rate(), 16000);
        for name in segment_names() {
            let c = s.clip(&name).unwrap();
            let secs = c.seconds();
            assert!((0.15..=2.0).contains(&secs), "{name}.wav lasts {secs:.2} s");
            let rms =
                (c.samples.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / c.samples.len() as f64).sqrt();
            assert!(rms > 1000.0, "{name}.wav is nearly silent (rms {rms:.0})");
        }
    }

    #[test]
    fn window_numbers_are_read_as_numbers() {
        let w = |n| window_words(n).join(" ");
        assert_eq!(w(3), "3");
        assert_eq!(w(10), "shi");
        assert_eq!(w(12), "shi 2");
        assert_eq!(w(20), "2 shi");
        assert_eq!(w(47), "4 shi 7");
        assert_eq!(w(100), "1 bai");
        assert_eq!(w(105), "1 bai 0 5");
        assert_eq!(w(110), "1 bai 1 shi");
        assert_eq!(w(999), "9 bai 9 shi 9");
        assert_eq!(w(1024), "1 0 2 4");
    }

    #[test]
    fn a_call_is_its_segments_in_order() {
        assert_eq!(
            call_words("A012", 3).unwrap().join(" "),
            "qing A 0 1 2 hao dao 3 hao-chuangkou banli"
        );
        assert!(matches!(call_words("a1", 1), Err(VoiceError::Unsayable(_))));
        let s = repo_voice();
        let clip = s.compose("A012", 3, 2, 500).unwrap();
        let mut expect = s.clip("chime").unwrap().samples.clone();
        let sentence: Vec<i16> = [
            "qing",
            "A",
            "0",
            "1",
            "2",
            "hao",
            "dao",
            "3",
            "hao-chuangkou",
            "banli",
        ]
        .iter()
        .flat_map(|n| s.clip(n).unwrap().samples.clone())
        .collect();
        expect.extend(&sentence);
        expect.extend(vec![0; s.rate() as usize / 2]);
        expect.extend(&sentence);
        assert_eq!(clip.samples, expect);
        // The WAV file holds exactly that.
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("call.wav");
        std::fs::write(&f, clip.to_wav()).unwrap();
        assert_eq!(Clip::read(&f).unwrap(), clip);
        assert!(
            clip.seconds() > 5.0 && clip.seconds() < 20.0,
            "{}",
            clip.seconds()
        );
    }

    #[test]
    fn drop_in_recordings_of_another_rate_or_stereo_are_converted() {
        let dir = tempfile::tempdir().unwrap();
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/voice");
        for n in segment_names() {
            std::fs::copy(src.join(format!("{n}.wav")), dir.path().join(format!("{n}.wav"))).unwrap();
        }
        // 请 re-recorded at 44.1 kHz stereo, 24-bit.
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: 44100,
            bits_per_sample: 24,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(dir.path().join("qing.wav"), spec).unwrap();
        for i in 0..44100 {
            let v = ((i as f32 / 20.0).sin() * 4_000_000.0) as i32;
            w.write_sample(v).unwrap();
            w.write_sample(v).unwrap();
        }
        w.finalize().unwrap();
        let s = Segments::load(dir.path()).unwrap();
        let q = s.clip("qing").unwrap();
        assert_eq!(q.rate, s.rate());
        assert!((q.seconds() - 1.0).abs() < 0.01, "{}", q.seconds());
        // A missing segment is named.
        std::fs::remove_file(dir.path().join("7.wav")).unwrap();
        let e = Segments::load(dir.path()).unwrap_err();
        assert!(e.to_string().contains("7.wav"), "{e}");
    }

    #[test]
    fn aplay_without_a_card_is_an_error_not_a_panic() {
        let clip = repo_voice().clip("chime").unwrap().clone();
        let mut a = Aplay {
            device: "hallq-no-such-card".into(),
        };
        let e = a.play(&clip, "test").unwrap_err();
        assert!(matches!(e, VoiceError::Output(_)), "{e}");
    }

    /// Records what it plays, and fails if two plays ever overlap.
    struct Recorder {
        played: Arc<Mutex<Vec<String>>>,
        busy: Arc<AtomicU64>,
        fail_first: bool,
    }

    impl Speaker for Recorder {
        fn play(&mut self, clip: &Clip, name: &str) -> Result<(), VoiceError> {
            assert_eq!(
                self.busy.fetch_add(1, Ordering::SeqCst),
                0,
                "two announcements at once"
            );
            assert!(!clip.samples.is_empty());
            std::thread::yield_now();
            self.busy.fetch_sub(1, Ordering::SeqCst);
            if std::mem::take(&mut self.fail_first) {
                return Err(VoiceError::Output("no sound card".into()));
            }
            self.played.lock().unwrap().push(name.to_string());
            Ok(())
        }
    }

    #[test]
    fn calls_are_queued_in_order_and_a_dead_card_does_not_stop_them() {
        let settings = VoiceSettings {
            segments: Arc::new(repo_voice()),
            repeat: 1,
            pause_ms: 0,
            output: VoiceOutput::None,
        };
        let played = Arc::new(Mutex::new(Vec::new()));
        let a = Announcer::new(
            &settings,
            Box::new(Recorder {
                played: played.clone(),
                busy: Arc::new(AtomicU64::new(0)),
                fail_first: true,
            }),
        );
        a.announce("A001", 1);
        a.announce("A002", 2);
        a.announce("A002", 2); // a recall: said again
        a.announce("B001", 12);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while a.spoken.load(Ordering::Relaxed) < 3 && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(5)); // bounded poll
        }
        assert_eq!(*played.lock().unwrap(), ["A002-w2", "A002-w2", "B001-w12"]);
    }
}
