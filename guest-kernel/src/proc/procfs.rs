//! `/proc`: files generated when opened, in Linux's formats. Per-process
//! files exist for the running task (as `self` and as its PID).

use alloc::string::String;
use alloc::sync::Arc;
use core::fmt::Write;

use crate::fs::errno::{EACCES, ENOENT};
use crate::fs::file::{File, O_ACCMODE, O_RDONLY};
use crate::mm::addr::PAGE_SIZE;

use super::current;

pub fn open(path: &str, flags: u32) -> Result<Arc<File>, i32> {
    if flags & O_ACCMODE != O_RDONLY {
        return Err(EACCES);
    }
    let mut out = String::new();
    let path = path.trim_end_matches('/');
    let (dir, name) = match path.split_once('/') {
        Some((d, n)) => (Some(d), n),
        None => (None, path),
    };
    match dir {
        None => global(name, &mut out)?,
        Some(d) => {
            let task = current().ok_or(ENOENT)?;
            if d != "self" && d.parse::<u32>().ok() != Some(task.pid) {
                return Err(ENOENT);
            }
            per_process(task, name, &mut out)?;
        }
    }
    Ok(File::snapshot(out.into_bytes()))
}

fn global(name: &str, w: &mut String) -> Result<(), i32> {
    use crate::mm::vmstat;
    let alloc = crate::mm::buddy::page_alloc();
    let _ = match name {
        "meminfo" => vmstat::meminfo(alloc, w),
        "buddyinfo" => vmstat::buddyinfo(alloc, w),
        "zoneinfo" => vmstat::zoneinfo(alloc, w),
        "vmstat" => vmstat::vmstat(alloc, w).and_then(|()| {
            use core::sync::atomic::Ordering::Relaxed;
            writeln!(w, "pgfault {}", super::fault::PGFAULT.load(Relaxed))?;
            writeln!(w, "cow_fault {}", super::fault::COW_FAULT.load(Relaxed))
        }),
        "slabinfo" => crate::mm::kmem::SLAB.slabinfo(w),
        "vmallocinfo" => crate::mm::vmalloc::vmallocinfo(w),
        _ => return Err(ENOENT),
    };
    Ok(())
}

fn per_process(task: &super::Task, name: &str, w: &mut String) -> Result<(), i32> {
    let mm = task.mm.as_ref().ok_or(ENOENT)?;
    match name {
        "maps" => {
            let _ = mm.vm.show_maps(w, &|f: &super::mm::FileRef| f.maps_info());
        }
        "status" => {
            let _ = writeln!(w, "Name:\t{}", task.comm);
            let _ = writeln!(w, "State:\tR (running)");
            let _ = writeln!(w, "Tgid:\t{}", task.pid);
            let _ = writeln!(w, "Pid:\t{}", task.pid);
            let _ = writeln!(w, "PPid:\t{}", task.ppid);
            let _ = writeln!(w, "Uid:\t0\t0\t0\t0");
            let _ = writeln!(w, "Gid:\t0\t0\t0\t0");
            let rss = mm.rss;
            let _ = mm.vm.show_status(w, rss.anon, rss.file, rss.shmem, mm.hiwater_rss, mm.pt.nr_tables * PAGE_SIZE);
            let _ = writeln!(w, "Threads:\t1");
        }
        "statm" => {
            let _ = writeln!(w, "{} {} {} 0 0 0 0", mm.vm.total_vm, mm.rss.total(), mm.rss.file);
        }
        _ => return Err(ENOENT),
    }
    Ok(())
}
