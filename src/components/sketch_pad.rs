//! A small drawing pad; its canvas `ImageData` pixels are sent as an `ArrayBuffer`.

use crate::i18n::Texts;
use std::cell::Cell;
use std::rc::Rc;
use wasm_bindgen::JsCast;
use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement};
use yew::prelude::*;

/// Width of the pad, pixels.
pub const SKETCH_WIDTH: u32 = 160;
/// Height of the pad, pixels.
pub const SKETCH_HEIGHT: u32 = 120;

/// Props of [`SketchPad`].
#[derive(Properties, PartialEq)]
pub struct SketchPadProps {
    /// Called with (width, height, RGBA pixels).
    pub on_sketch: Callback<(u32, u32, Vec<u8>)>,
    /// UI strings.
    pub texts: &'static Texts,
}

fn context(canvas: &NodeRef) -> Option<CanvasRenderingContext2d> {
    canvas
        .cast::<HtmlCanvasElement>()?
        .get_context("2d")
        .ok()??
        .dyn_into()
        .ok()
}

fn clear(canvas: &NodeRef) {
    if let Some(context) = context(canvas) {
        context.set_fill_style_str("#ffffff");
        context.fill_rect(0.0, 0.0, SKETCH_WIDTH as f64, SKETCH_HEIGHT as f64);
    }
}

/// The pad with Send sketch and Clear.
#[function_component]
pub fn SketchPad(props: &SketchPadProps) -> Html {
    let canvas = use_node_ref();
    let drawing = use_memo((), |_| Rc::new(Cell::new(false)));
    {
        let canvas = canvas.clone();
        use_effect_with((), move |_| clear(&canvas));
    }
    let point = |event: &PointerEvent| (event.offset_x() as f64, event.offset_y() as f64);
    let on_down = {
        let (canvas, drawing) = (canvas.clone(), drawing.clone());
        Callback::from(move |event: PointerEvent| {
            drawing.set(true);
            if let Some(context) = context(&canvas) {
                let (x, y) = point(&event);
                context.begin_path();
                context.move_to(x, y);
            }
        })
    };
    let on_move = {
        let (canvas, drawing) = (canvas.clone(), drawing.clone());
        Callback::from(move |event: PointerEvent| {
            if !drawing.get() {
                return;
            }
            if let Some(context) = context(&canvas) {
                let (x, y) = point(&event);
                context.set_stroke_style_str("#d6336c");
                context.set_line_width(3.0);
                context.line_to(x, y);
                context.stroke();
            }
        })
    };
    let on_up = {
        let drawing = drawing.clone();
        Callback::from(move |_: PointerEvent| drawing.set(false))
    };
    let on_send = {
        let (canvas, on_sketch) = (canvas.clone(), props.on_sketch.clone());
        Callback::from(move |_: MouseEvent| {
            let Some(context) = context(&canvas) else {
                return;
            };
            if let Ok(image) =
                context.get_image_data(0.0, 0.0, SKETCH_WIDTH as f64, SKETCH_HEIGHT as f64)
            {
                on_sketch.emit((image.width(), image.height(), image.data().0));
            }
        })
    };
    let on_clear = {
        let canvas = canvas.clone();
        Callback::from(move |_: MouseEvent| clear(&canvas))
    };
    let t = props.texts;
    html! {
        <section class="sketch-pad" aria-label={t.sketch}>
            <canvas ref={canvas} width={SKETCH_WIDTH.to_string()} height={SKETCH_HEIGHT.to_string()}
                aria-label={t.sketch} role="img"
                onpointerdown={on_down} onpointermove={on_move} onpointerup={on_up.clone()} onpointerleave={on_up} />
            <div class="actions">
                <button type="button" onclick={on_send}>{ t.send_sketch }</button>
                <button type="button" onclick={on_clear}>{ t.clear }</button>
            </div>
        </section>
    }
}
