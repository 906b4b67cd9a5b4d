//! Attribute macros for `dtact` (use them through the `dtact` crate: `#[dtact::task]`,
//! `#[dtact::main]`, `#[dtact::dtact_init]`, `#[dtact::export_async]`, `#[dtact::export_fiber]`).
//!
//! Every argument is honoured or rejected at compile time: unknown keys, bad variant names and
//! bad sizes (`"12Q"`) are compile errors (the one exception, `#[task(capacity = ...)]`, is
//! checked and documented as having no per-task meaning). Sizes accept plain integers (literal
//! or string) and the suffixes K, M, G (powers of 1024). Only the two export macros emit global
//! symbols (`dtact_export_<fn>`, `dtact_export_fiber_<fn>`): that is their purpose.
#![deny(missing_docs)]
use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{format_ident, quote};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{FnArg, ItemFn, Lit, MetaNameValue, Token};

type Args = Punctuated<MetaNameValue, Token![,]>;

fn err(span: Span, msg: impl std::fmt::Display) -> syn::Error {
    syn::Error::new(span, msg)
}

/// Parses "256K", "2M", "1G", "1024" (K/M/G are powers of 1024; case-insensitive; optional "B"/"iB").
fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    if t.is_empty() {
        return Err("empty size".into());
    }
    let upper = t.to_ascii_uppercase();
    let body = upper.strip_suffix("IB").or_else(|| upper.strip_suffix('B').filter(|b| b.ends_with(['K', 'M', 'G']))).unwrap_or(&upper);
    let (num, mul) = match body.chars().last().unwrap() {
        'K' => (&body[..body.len() - 1], 1u64 << 10),
        'M' => (&body[..body.len() - 1], 1u64 << 20),
        'G' => (&body[..body.len() - 1], 1u64 << 30),
        c if c.is_ascii_digit() => (body, 1u64),
        _ => return Err(format!("bad size {s:?}: expected an integer with an optional K, M or G suffix")),
    };
    let num = num.trim().replace('_', "");
    let n: u64 = num.parse().map_err(|_| format!("bad size {s:?}: expected an integer with an optional K, M or G suffix"))?;
    n.checked_mul(mul).ok_or_else(|| format!("size {s:?} overflows"))
}

fn lit_of(nv: &MetaNameValue) -> &Lit {
    &nv.lit
}

/// An integer or size value: `4`, `"4"`, `"256K"`.
fn size_value(nv: &MetaNameValue) -> syn::Result<u64> {
    match lit_of(nv) {
        Lit::Int(i) => i.base10_parse::<u64>(),
        Lit::Str(s) => parse_size(&s.value()).map_err(|m| err(s.span(), m)),
        other => Err(err(other.span(), "expected an integer or a size string such as \"256K\"")),
    }
}

fn str_value(nv: &MetaNameValue) -> syn::Result<String> {
    match lit_of(nv) {
        Lit::Str(s) => Ok(s.value()),
        other => Err(err(other.span(), "expected a string naming a variant, e.g. \"High\"")),
    }
}

fn key(nv: &MetaNameValue) -> String {
    nv.path.get_ident().map(|i| i.to_string()).unwrap_or_default()
}

fn pick(nv: &MetaNameValue, what: &str, names: &[&str]) -> syn::Result<syn::Ident> {
    let v = str_value(nv)?;
    if names.contains(&v.as_str()) {
        Ok(syn::Ident::new(&v, nv.lit.span()))
    } else {
        Err(err(nv.lit.span(), format!("unknown {what} {v:?}; expected one of: {}", names.join(", "))))
    }
}

fn ranged(nv: &MetaNameValue, what: &str, lo: u64, hi: u64) -> syn::Result<u64> {
    let v = size_value(nv)?;
    if v < lo || v > hi {
        return Err(err(nv.lit.span(), format!("{what} = {v} is out of range ({lo} ..= {hi})")));
    }
    Ok(v)
}

fn no_dupes(args: &Args) -> syn::Result<()> {
    let mut seen = Vec::new();
    for nv in args {
        let k = key(nv);
        if seen.contains(&k) {
            return Err(err(nv.path.span(), format!("duplicate argument `{k}`")));
        }
        seen.push(k);
    }
    Ok(())
}

const STACK_MIN: u64 = 16 << 10;
const STACK_MAX: u64 = 64 << 20;

// ----------------------------------------------------------------------------- #[task]

/// `#[dtact::task(priority = "High", kind = "Compute", affinity = "Any", stack = "256K",
/// switcher = "CrossThreadNoFloat")]` on an `async fn`.
///
/// The function becomes a plain `fn` with the same parameters returning
/// `dtact::TaskFuture<impl Future<Output = T> + Send + 'static, Switcher>`, which carries the
/// spawn settings: `dtact::spawn(f(..))` and `dtact::spawn!(f(..))` both honour them, and
/// `f(..).await` runs the body in place. A module `dtact_metadata_<fn>` exposes `PRIORITY`,
/// `AFFINITY`, `KIND`, `STACK_SIZE` (0 = runtime default) and the type `SWITCHER`.
/// Defaults: Normal, Any, Compute, runtime default stack, CrossThreadFloat.
///
/// `capacity = N` (an integer or size string, 1 ..= 16777215) is accepted because the original
/// Dtact's README put it on its `#[task]` example; it has no per-task meaning (the fiber
/// capacity is a runtime setting: `#[dtact::main(capacity = ...)]`) and is otherwise ignored.
#[proc_macro_attribute]
pub fn task(attr: TokenStream, item: TokenStream) -> TokenStream {
    match task_impl(attr.into(), item.into()) {
        Ok(t) => t.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

fn task_impl(attr: TokenStream2, item: TokenStream2) -> syn::Result<TokenStream2> {
    let args = Args::parse_terminated.parse2(attr)?;
    no_dupes(&args)?;
    let mut priority = syn::Ident::new("Normal", Span::call_site());
    let mut affinity = syn::Ident::new("Any", Span::call_site());
    let mut kind = syn::Ident::new("Compute", Span::call_site());
    let mut switcher = syn::Ident::new("CrossThreadFloat", Span::call_site());
    let mut stack: u64 = 0;
    for nv in &args {
        match key(nv).as_str() {
            "priority" => priority = pick(nv, "priority", &["Low", "Normal", "High", "Critical"])?,
            "affinity" => affinity = pick(nv, "affinity", &["SameCore", "SameCCX", "SameNUMA", "Any"])?,
            "kind" => kind = pick(nv, "kind", &["Compute", "IO", "Memory", "System"])?,
            "switcher" => {
                switcher = pick(nv, "switcher", &["CrossThreadFloat", "CrossThreadNoFloat", "SameThreadFloat", "SameThreadNoFloat"])?
            }
            "stack" => stack = ranged(nv, "stack", STACK_MIN, STACK_MAX)?,
            "capacity" => {
                ranged(nv, "capacity", 1, 16_777_215)?;
            }
            other => {
                return Err(err(
                    nv.path.span(),
                    format!("unknown #[task] argument `{other}`; expected priority, affinity, kind, stack, switcher or capacity"),
                ))
            }
        }
    }
    let f: ItemFn = syn::parse2(item)?;
    if f.sig.asyncness.is_none() {
        return Err(err(f.sig.fn_token.span(), "#[dtact::task] must be applied to an `async fn`"));
    }
    let ItemFn { attrs, vis, sig, block } = f;
    let name = &sig.ident;
    let out = match &sig.output {
        syn::ReturnType::Default => quote!(()),
        syn::ReturnType::Type(_, t) => quote!(#t),
    };
    let mut new_sig = sig.clone();
    new_sig.asyncness = None;
    new_sig.output = syn::parse_quote!(
        -> ::dtact::TaskFuture<impl ::core::future::Future<Output = #out> + ::core::marker::Send + 'static, ::dtact::#switcher>
    );
    let meta = format_ident!("dtact_metadata_{}", name);
    let stack_usize = stack as usize;
    Ok(quote! {
        #[allow(non_snake_case)]
        #vis mod #meta {
            pub const PRIORITY: ::dtact::Priority = ::dtact::Priority::#priority;
            pub const AFFINITY: ::dtact::Affinity = ::dtact::Affinity::#affinity;
            pub const KIND: ::dtact::WorkloadKind = ::dtact::WorkloadKind::#kind;
            pub const STACK_SIZE: usize = #stack_usize;
            pub type SWITCHER = ::dtact::#switcher;
        }
        #(#attrs)*
        #vis #new_sig {
            ::dtact::TaskFuture::new(
                async move #block,
                ::dtact::SpawnBuilder::<::dtact::CrossThreadFloat>::new()
                    .priority(::dtact::Priority::#priority)
                    .affinity(::dtact::Affinity::#affinity)
                    .kind(::dtact::WorkloadKind::#kind)
                    .stack_size(#stack_usize)
                    .switcher::<::dtact::#switcher>(),
            )
        }
    })
}

// ----------------------------------------------------------------------------- #[main]

/// `#[dtact::main(workers = 4, stack = "256K", capacity = "1024", safety = "Safety1",
/// topology = "P2PMesh", numa = 0)]` on `main` (or any fn, e.g. a `#[test]`).
///
/// Builds a `dtact::Runtime` with those settings at the top of the function, runs the body and
/// drops the runtime (shutdown + destroy) at the end. `workers = 0` means one per CPU. `numa` is
/// reserved by the C runtime and only 0 is accepted; `topology = "Pinned"` is rejected (the C
/// runtime has no such mode).
///
/// The body of a plain `fn` runs on the calling (host) thread, as in the original Dtact: there
/// `dtact_await` and `join()` block the thread. The body of an `async fn` runs on a fiber: it is
/// spawned as a task pinned to one worker (`dtact::spawn_pinned`: it need not be `Send`) and the
/// host thread blocks until it finishes; its output is the function's return value (so the
/// output type must be `Send`: e.g. `Box<dyn Error + Send + Sync>` rather than
/// `Box<dyn Error>`), and a panic in the body is resumed on the host thread. The parameters of
/// an `async fn` move into the fiber, so they must be `Send + 'static`.
#[proc_macro_attribute]
pub fn main(attr: TokenStream, item: TokenStream) -> TokenStream {
    match main_impl(attr.into(), item.into(), "main") {
        Ok(t) => t.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

/// The spelling of [`macro@main`] in the original Dtact (the earlier Rust implementation whose
/// API the `dtact` crate keeps); identical.
#[proc_macro_attribute]
pub fn dtact_init(attr: TokenStream, item: TokenStream) -> TokenStream {
    match main_impl(attr.into(), item.into(), "dtact_init") {
        Ok(t) => t.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

fn main_impl(attr: TokenStream2, item: TokenStream2, which: &str) -> syn::Result<TokenStream2> {
    let args = Args::parse_terminated.parse2(attr)?;
    no_dupes(&args)?;
    let mut setters = Vec::new();
    for nv in &args {
        match key(nv).as_str() {
            "workers" => {
                let v = ranged(nv, "workers", 0, 1024)? as u32;
                setters.push(quote!(.workers(#v)));
            }
            "capacity" => {
                let v = ranged(nv, "capacity", 1, 16_777_215)? as u32;
                setters.push(quote!(.capacity(#v)));
            }
            "stack" => {
                let v = ranged(nv, "stack", STACK_MIN, STACK_MAX)? as usize;
                setters.push(quote!(.stack_size(#v)));
            }
            "safety" => {
                let v = pick(nv, "safety level", &["Safety0", "Safety1", "Safety2"])?;
                setters.push(quote!(.safety(::dtact::SafetyLevel::#v)));
            }
            "topology" => {
                let v = str_value(nv)?;
                match v.as_str() {
                    "P2PMesh" | "Global" => {
                        let id = syn::Ident::new(&v, nv.lit.span());
                        setters.push(quote!(.topology(::dtact::TopologyMode::#id)));
                    }
                    "Pinned" => {
                        return Err(err(nv.lit.span(), "topology \"Pinned\" is not supported by this runtime; use P2PMesh or Global (pin single tasks with affinity = \"SameCore\")"))
                    }
                    _ => return Err(err(nv.lit.span(), format!("unknown topology {v:?}; expected one of: P2PMesh, Global"))),
                }
            }
            "numa" => {
                let v = size_value(nv)?;
                if v != 0 {
                    return Err(err(nv.lit.span(), "numa is reserved by the C runtime: only numa = 0 is accepted"));
                }
            }
            other => {
                return Err(err(
                    nv.path.span(),
                    format!("unknown #[{which}] argument `{other}`; expected workers, capacity, stack, safety, topology or numa"),
                ))
            }
        }
    }
    let f: ItemFn = syn::parse2(item)?;
    let ItemFn { attrs, vis, sig, block } = f;
    let is_async = sig.asyncness.is_some();
    let mut new_sig = sig.clone();
    new_sig.asyncness = None;
    let build = quote! {
        let __dtact_runtime = ::dtact::Runtime::builder() #(#setters)* .build()
            .unwrap_or_else(|e| panic!("dtact: cannot build the runtime: {}", e));
    };
    let body = if is_async {
        quote! {
            #build
            let __dtact_out = ::dtact::__run_main_on_fiber(move || async move #block);
            ::core::mem::drop(__dtact_runtime);
            __dtact_out
        }
    } else {
        quote! {
            #build
            let __dtact_out = (move || #block)();
            ::core::mem::drop(__dtact_runtime);
            __dtact_out
        }
    };
    Ok(quote! {
        #(#attrs)*
        #vis #new_sig {
            #body
        }
    })
}

// ----------------------------------------------------------------------------- #[export_*]

/// The exported function's C parameters (`__dtact_arg<i>: T`) and the call arguments.
fn export_params(f: &ItemFn, which: &str) -> syn::Result<(Vec<TokenStream2>, Vec<TokenStream2>)> {
    let mut params = Vec::new();
    let mut args = Vec::new();
    for (i, input) in f.sig.inputs.iter().enumerate() {
        match input {
            FnArg::Typed(pt) => {
                let id = format_ident!("__dtact_arg{}", i);
                let ty = &pt.ty;
                params.push(quote!(#id: #ty));
                args.push(quote!(#id));
            }
            FnArg::Receiver(r) => return Err(err(r.span(), format!("#[{which}] does not support `self` parameters"))),
        }
    }
    if !f.sig.generics.params.is_empty() {
        return Err(err(f.sig.generics.span(), format!("#[{which}] does not support generic functions")));
    }
    Ok((params, args))
}

/// `#[dtact::export_async]` on an `async fn` (or a `#[dtact::task]` function): keeps the function
/// and adds `#[no_mangle] pub extern "C" fn dtact_export_<fn>(same parameters) -> dtact_handle_t`
/// for C callers, which spawns the function as a task and returns its fiber handle (C can
/// `dtact_await` it), or `DTACT_INVALID_HANDLE` (0) if the spawn fails (no runtime, shutting
/// down, pool full): never a panic across the C boundary. The parameter types must be FFI-safe
/// (checked: `improper_ctypes_definitions` is denied on the wrapper) and, as the task runs on
/// another fiber, `Send + 'static`. The task's output is dropped (return results through a
/// parameter, e.g. a pointer-sized integer, or use the Rust API).
#[proc_macro_attribute]
pub fn export_async(attr: TokenStream, item: TokenStream) -> TokenStream {
    match export_impl(attr.into(), item.into(), true) {
        Ok(t) => t.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

/// `#[dtact::export_fiber]` on a synchronous `fn`: keeps the function and adds
/// `#[no_mangle] pub extern "C" fn dtact_export_fiber_<fn>(same parameters) -> dtact_handle_t`,
/// which runs the function on a new fiber (the `SameThreadNoFloat` switcher, as the original's
/// `spawn_with_stack`, with the runtime's default stack) and returns its handle, or
/// `DTACT_INVALID_HANDLE` (0) if the spawn fails. The function may suspend its fiber with the
/// synchronous calls (`dtact_await`, `wait`, `yield_to_sync`, `sleep`). Parameter rules and the
/// dropped output as for [`macro@export_async`].
#[proc_macro_attribute]
pub fn export_fiber(attr: TokenStream, item: TokenStream) -> TokenStream {
    match export_impl(attr.into(), item.into(), false) {
        Ok(t) => t.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

fn export_impl(attr: TokenStream2, item: TokenStream2, is_async: bool) -> syn::Result<TokenStream2> {
    let which = if is_async { "export_async" } else { "export_fiber" };
    if !attr.is_empty() {
        return Err(err(attr.span(), format!("#[{which}] takes no arguments")));
    }
    let f: ItemFn = syn::parse2(item)?;
    let (params, args) = export_params(&f, which)?;
    let name = &f.sig.ident;
    if !is_async && f.sig.asyncness.is_some() {
        return Err(err(f.sig.fn_token.span(), "#[export_fiber] is for a synchronous `fn`; use #[export_async] on an `async fn`"));
    }
    let has_task_attr = f.attrs.iter().any(|a| matches!(a.path.segments.last(), Some(s) if s.ident == "task"));
    if is_async && f.sig.asyncness.is_none() && !has_task_attr {
        return Err(err(f.sig.fn_token.span(), "#[export_async] is for an `async fn` (or a #[dtact::task] fn); use #[export_fiber] on a synchronous `fn`"));
    }
    let (wrapper, spawn) = if is_async {
        (format_ident!("dtact_export_{}", name), quote!(::dtact::try_spawn(#name(#(#args),*))))
    } else {
        (
            format_ident!("dtact_export_fiber_{}", name),
            quote!(::dtact::SpawnBuilder::<::dtact::SameThreadNoFloat>::new().try_spawn(async move {
                let _ = #name(#(#args),*);
            })),
        )
    };
    let doc = format!("C entry point made by `#[dtact::{which}]`: runs `{name}` on a new fiber and returns its handle (0 if the spawn failed).");
    let no_mangle = quote::quote_spanned!(Span::mixed_site()=> #[no_mangle]);
    Ok(quote! {
        #f
        #[doc = #doc]
        #no_mangle
        #[deny(improper_ctypes_definitions)]
        pub extern "C" fn #wrapper(#(#params),*) -> ::dtact::dtact_handle_t {
            match #spawn {
                ::core::result::Result::Ok(h) => ::dtact::AsHandle::as_handle(&h),
                ::core::result::Result::Err(_) => ::dtact::dtact_handle_t::INVALID,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::parse_size;
    #[test]
    fn sizes() {
        assert_eq!(parse_size("256K"), Ok(262144));
        assert_eq!(parse_size("2M"), Ok(2 << 20));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("1024"), Ok(1024));
        assert_eq!(parse_size("64k"), Ok(65536));
        assert_eq!(parse_size("4KiB"), Ok(4096));
        assert!(parse_size("12Q").is_err());
        assert!(parse_size("K").is_err());
        assert!(parse_size("").is_err());
        assert!(parse_size("-1").is_err());
    }
}
