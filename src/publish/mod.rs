//! `goshelf publish`: from a module's source tree to a published version in one command.
//!
//! Lists the tree, applies the go command's zip creation rules (`gomod::create`), builds the
//! zip in a temporary file, validates it with the same code the server runs, and uploads it,
//! streaming. The version comes from `--version`, from the exact git tag at HEAD, or, with
//! `--pseudo`, from the HEAD commit (spec.md §3.5).

pub mod tree;

use std::fmt::Write as _;
use std::io::{IsTerminal, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};

use crate::gomod::{self, version};

/// What to publish, and where.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub dir: PathBuf,
    pub version: Option<String>,
    pub pseudo: bool,
    pub allow_dirty: bool,
    pub dry_run: bool,
    pub output: Option<PathBuf>,
    pub owner: Option<String>,
    pub server: Option<String>,
    pub token: Option<String>,
}

/// Uploads above this size show a progress bar (on a terminal only).
const PROGRESS_MIN_BYTES: u64 = 4 << 20;

/// Runs `goshelf publish`; what it prints goes to `out`.
///
/// # Errors
/// Anything that stops the publication, with a message saying what to do.
pub fn run(opts: &Options, out: &mut dyn std::io::Write) -> anyhow::Result<()> {
    let dir = std::fs::canonicalize(&opts.dir)
        .with_context(|| format!("cannot open the module directory {}", opts.dir.display()))?;
    let go_mod_path = dir.join("go.mod");
    let go_mod = std::fs::read(&go_mod_path).with_context(|| {
        format!(
            "no go.mod in {}: run goshelf publish in a module's root directory",
            dir.display()
        )
    })?;
    let module = gomod::modfile::module_path(&go_mod)
        .map_err(|e| anyhow::anyhow!("{}: {e}", go_mod_path.display()))?;
    gomod::path::check_path(&module)
        .map_err(|e| anyhow::anyhow!("{}: {e}", go_mod_path.display()))?;

    let listing = tree::list_dir(&dir).with_context(|| format!("listing {}", dir.display()))?;
    let checked = gomod::create::check_dir(&listing);
    if !checked.invalid.is_empty() {
        let mut msg = format!("{module} cannot be zipped; these files are invalid:");
        for (name, why) in &checked.invalid {
            let _ = write!(msg, "\n  {name}: {why}");
        }
        bail!(msg);
    }
    if let Some(size_error) = &checked.size_error {
        bail!("{size_error}");
    }

    let version = match &opts.version {
        Some(v) => v.clone(),
        None => git_version(&dir, &module, opts.pseudo)?,
    };
    if !opts.allow_dirty && opts.version.is_none() {
        ensure_clean(&dir)?;
    }
    gomod::Version::parse(&version).map_err(|e| anyhow::anyhow!("--version: {e}"))?;
    version::check(&module, &version).map_err(|e| anyhow::anyhow!("{e}"))?;

    // Build the zip in a temporary file, check it as the server will, and only then move it
    // to the -o path: a refused zip never lands there.
    let (mut file, staged) = match &opts.output {
        Some(p) => {
            let (file, tmp) = staged_file(p)?;
            (file, Some((tmp, p.clone())))
        }
        None => (tempfile_in_tmp()?, None),
    };
    let valid: Vec<String> = checked.valid.clone();
    let h1 = tree::zip_dir(&dir, &module, &version, &valid, &mut file)
        .with_context(|| format!("building the zip of {module}@{version}"))?;
    let size = file.seek(SeekFrom::End(0))?;
    file.seek(SeekFrom::Start(0))?;
    let summary = gomod::zip::validate(std::io::BufReader::new(&mut file), size, &module, &version)
        .map_err(|e| anyhow::anyhow!("the zip of {module}@{version} is not valid: {e}"))?;
    if summary.h1 != h1 {
        bail!(
            "internal error: zip hash {h1} differs from the validated {}",
            summary.h1
        );
    }
    let keep = match staged {
        Some((tmp, dest)) => {
            std::fs::rename(&tmp.0, &dest)
                .with_context(|| format!("moving the zip to {}", dest.display()))?;
            tmp.disarm();
            Some(dest)
        }
        None => None,
    };

    if opts.dry_run || keep.is_some() {
        writeln!(
            out,
            "{module}@{version}: {} files, {size} bytes",
            valid.len()
        )?;
        if opts.dry_run {
            writeln!(out, "included:")?;
            for name in &valid {
                writeln!(out, "  {name}")?;
            }
            if !checked.omitted.is_empty() {
                writeln!(out, "omitted:")?;
                for (name, why) in &checked.omitted {
                    writeln!(out, "  {name}: {why}")?;
                }
            }
        }
        if let Some(p) = &keep {
            writeln!(out, "wrote {}", p.display())?;
        }
        write_sums(out, &module, &version, &summary.h1, &summary.mod_h1)?;
        if opts.dry_run {
            writeln!(out, "dry run: nothing uploaded")?;
        }
        return Ok(());
    }

    let server = opts
        .server
        .clone()
        .context("--server (or GOSHELF_SERVER) is needed to upload, e.g. http://nas:8080")?;
    let owner = opts
        .owner
        .clone()
        .context("--owner (or GOSHELF_OWNER) is needed to upload")?;
    let token = opts
        .token
        .clone()
        .filter(|t| !t.is_empty())
        .context("a token is needed to upload: set GOSHELF_TOKEN (or pass --token)")?;
    file.seek(SeekFrom::Start(0))?;
    let published = upload(&server, &owner, &token, file, size)?;
    if published.h1 != summary.h1 || published.go_mod_h1 != summary.mod_h1 {
        bail!(
            "the server computed {} for the zip, but goshelf computed {}: do not use this version",
            published.h1,
            summary.h1
        );
    }
    writeln!(
        out,
        "published {module}@{version} ({size} bytes) to {owner} on {server}"
    )?;
    write_sums(out, &module, &version, &published.h1, &published.go_mod_h1)?;
    Ok(())
}

fn write_sums(
    out: &mut dyn std::io::Write,
    module: &str,
    version: &str,
    h1: &str,
    mod_h1: &str,
) -> std::io::Result<()> {
    writeln!(out, "go.sum:")?;
    writeln!(out, "{module} {version} {h1}")?;
    writeln!(out, "{module} {version}/go.mod {mod_h1}")
}

/// A temporary file removed on drop unless disarmed.
struct TempPath(PathBuf, bool);

impl TempPath {
    fn disarm(mut self) {
        self.1 = false;
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        if self.1 {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

/// A new file beside `dest`, to be renamed over it once complete.
fn staged_file(dest: &Path) -> anyhow::Result<(std::fs::File, TempPath)> {
    let name = dest
        .file_name()
        .context("-o needs a file name")?
        .to_string_lossy()
        .into_owned();
    let tmp = dest.with_file_name(format!(
        ".{name}.{}.tmp",
        hex::encode(rand::random::<[u8; 4]>())
    ));
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&tmp)
        .with_context(|| format!("creating {}", tmp.display()))?;
    Ok((file, TempPath(tmp, true)))
}

fn tempfile_in_tmp() -> anyhow::Result<std::fs::File> {
    let name = format!(
        "goshelf-publish-{}.zip",
        hex::encode(rand::random::<[u8; 8]>())
    );
    let path = std::env::temp_dir().join(name);
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .with_context(|| format!("creating {}", path.display()))?;
    // Unlinked at once: the open handle keeps the data until the process ends.
    let _ = std::fs::remove_file(&path);
    Ok(file)
}

/// The server's `201` answer.
#[derive(Debug, serde::Deserialize)]
struct Published {
    h1: String,
    go_mod_h1: String,
}

fn upload(
    server: &str,
    owner: &str,
    token: &str,
    file: std::fs::File,
    size: u64,
) -> anyhow::Result<Published> {
    let url = format!(
        "{}/api/packages/{owner}/go/upload",
        server.trim_end_matches('/')
    );
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .tls_config(crate::client::tls_config()?)
        .build()
        .into();
    let bar = (size >= PROGRESS_MIN_BYTES && std::io::stderr().is_terminal()).then(|| {
        let bar = indicatif::ProgressBar::new(size);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "uploading {bar:40} {bytes}/{total_bytes} {bytes_per_sec} {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let reader: Box<dyn Read> = match &bar {
        Some(bar) => Box::new(bar.wrap_read(file)),
        None => Box::new(file),
    };
    let result = agent
        .put(&url)
        .header("Authorization", format!("Bearer {token}"))
        .header("Content-Type", "application/zip")
        .header("Content-Length", size.to_string())
        .send(ureq::SendBody::from_owned_reader(reader));
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let mut resp = result.with_context(|| format!("uploading to {url}"))?;
    let status = resp.status().as_u16();
    if status == 201 {
        let text = resp
            .body_mut()
            .read_to_string()
            .with_context(|| format!("reading the answer of {url}"))?;
        return serde_json::from_str(&text)
            .with_context(|| format!("unexpected answer from {url}: {text}"));
    }
    let reason = resp.body_mut().read_to_string().unwrap_or_default();
    let reason = reason.lines().next().unwrap_or("").trim();
    let hint = match status {
        401 => "the token was not accepted: check GOSHELF_TOKEN / --token",
        403 => "this token may not publish to that owner",
        409 => "that version is already published (versions are immutable): publish a new version",
        413 => "the zip is larger than the server's --max-upload",
        404 => "no goshelf upload endpoint there: check --server",
        _ => "the upload was refused",
    };
    bail!("{url}: {status}: {reason}\n{hint}")
}

/// Makes sure the module directory has no uncommitted changes.
fn ensure_clean(dir: &Path) -> anyhow::Result<()> {
    let Some(_) = git_root(dir)? else {
        return Ok(());
    };
    let status = git(dir, &["status", "--porcelain", "--", "."])?;
    if !status.trim().is_empty() {
        bail!(
            "the work tree has uncommitted changes, so the zip would not match the commit:\n{}\n\
             commit them, or pass --allow-dirty",
            status.trim_end()
        );
    }
    Ok(())
}

fn git(dir: &Path, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .context("running git (is it installed?)")?;
    if !out.status.success() {
        bail!(
            "git {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The repository root holding `dir`, or `None` outside a git work tree.
fn git_root(dir: &Path) -> anyhow::Result<Option<PathBuf>> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["rev-parse", "--show-toplevel"])
        .output()
        .context("running git (is it installed?)")?;
    if !out.status.success() {
        return Ok(None);
    }
    let root = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    Ok(Some(std::fs::canonicalize(root)?))
}

/// The tag prefix for the module in `subdir` of its repository: `sub/dir/`, with a final major
/// version directory (`v2`) left out, as the go command maps tags to subdirectory modules.
#[must_use]
pub fn tag_prefix(module: &str, subdir: &str) -> String {
    let mut dir = subdir.trim_matches('/').to_owned();
    if let Some((_, suffix)) = gomod::path::split_path_version(module) {
        let major = suffix.trim_start_matches('/');
        if suffix.starts_with('/') && (dir == major || dir.ends_with(&format!("/{major}"))) {
            dir.truncate(dir.len() - major.len());
            dir = dir.trim_end_matches('/').to_owned();
        }
    }
    if dir.is_empty() {
        dir
    } else {
        format!("{dir}/")
    }
}

/// The versions among `tags` that belong to `module` under `prefix`, highest first.
#[must_use]
pub fn versions_from_tags(module: &str, prefix: &str, tags: &str) -> Vec<String> {
    let mut versions: Vec<String> = tags
        .lines()
        .filter_map(|t| t.trim().strip_prefix(prefix))
        .filter(|v| gomod::Version::parse(v).is_ok() && version::check(module, v).is_ok())
        .filter(|v| !version::is_pseudo(v))
        .map(str::to_owned)
        .collect();
    versions.sort_by(|a, b| version::compare(b, a));
    versions
}

/// `module.PathMajorPrefix` of the module's path: `v2` for `/v2` and `gopkg.in/x.v2`, `v0`
/// without a suffix (the major of a pseudo-version with no base tag).
#[must_use]
pub fn major_prefix(module: &str) -> String {
    match gomod::path::split_path_version(module) {
        Some((_, suffix)) if !suffix.is_empty() => suffix
            .trim_start_matches(['/', '.'])
            .trim_end_matches("-unstable")
            .to_owned(),
        _ => "v0".to_owned(),
    }
}

/// The version of HEAD: its exact tag, or with `pseudo` a pseudo-version of the HEAD commit.
fn git_version(dir: &Path, module: &str, pseudo: bool) -> anyhow::Result<String> {
    let root = git_root(dir)?.with_context(|| {
        format!(
            "{} is not in a git work tree: pass --version vX.Y.Z",
            dir.display()
        )
    })?;
    let subdir = dir
        .strip_prefix(&root)
        .map(|p| p.to_string_lossy().replace('\\', "/"))
        .unwrap_or_default();
    let prefix = tag_prefix(module, &subdir);
    if !pseudo {
        let tags = git(dir, &["tag", "--points-at", "HEAD"])?;
        return versions_from_tags(module, &prefix, &tags)
            .into_iter()
            .next()
            .with_context(|| {
                format!(
                "HEAD has no tag {prefix}vX.Y.Z for {module}: tag it (git tag {prefix}v0.1.0), \
                 pass --version, or pass --pseudo for a pseudo-version"
            )
            });
    }
    let log = git(dir, &["log", "-1", "--format=%H %ct"])?;
    let (rev, time) = log
        .trim()
        .split_once(' ')
        .context("unexpected git log output")?;
    let time: i64 = time.parse().context("unexpected commit time from git")?;
    let merged = git(dir, &["tag", "--merged", "HEAD"])?;
    let base = versions_from_tags(module, &prefix, &merged)
        .into_iter()
        .next();
    let major = major_prefix(module);
    version::pseudo_version(&major, base.as_deref(), time, rev)
        .map_err(|e| anyhow::anyhow!("making a pseudo-version: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_prefix_follows_subdirectory_and_drops_major_directory() {
        assert_eq!(tag_prefix("example.com/m", ""), "");
        assert_eq!(tag_prefix("example.com/m/sub/dir", "sub/dir"), "sub/dir/");
        assert_eq!(tag_prefix("example.com/m/v2", "v2"), "");
        assert_eq!(tag_prefix("example.com/m/v2", ""), "");
        assert_eq!(tag_prefix("example.com/m/sub/v3", "sub/v3"), "sub/");
        assert_eq!(tag_prefix("example.com/m/v2", "other"), "other/");
    }

    #[test]
    fn major_prefix_follows_path_suffix() {
        assert_eq!(major_prefix("example.com/m"), "v0");
        assert_eq!(major_prefix("example.com/m/v3"), "v3");
        assert_eq!(major_prefix("gopkg.in/yaml.v2"), "v2");
        assert_eq!(major_prefix("gopkg.in/check.v1"), "v1");
        assert_eq!(major_prefix("gopkg.in/x.v3-unstable"), "v3");
    }

    #[test]
    fn versions_from_tags_keeps_valid_versions_of_the_module_highest_first() {
        let tags = "v1.0.0\nv1.10.0\nv1.9.0\nv2.0.0\nsub/v1.2.0\nnot-a-version\nv1.2\n";
        assert_eq!(
            versions_from_tags("example.com/m", "", tags),
            ["v1.10.0", "v1.9.0", "v1.0.0"]
        );
        assert_eq!(
            versions_from_tags("example.com/m/sub", "sub/", tags),
            ["v1.2.0"]
        );
        assert_eq!(versions_from_tags("example.com/m/v2", "", tags), ["v2.0.0"]);
    }
}
