// SPDX-License-Identifier: Apache-2.0
#pragma once
// InfoDiffusion building blocks: schedules, information measures, noising, reverse steps,
// self-conditioning, rounding, loss terms and timestep samplers.

#include "diffusion/entropy_schedule.hpp"
#include "diffusion/information.hpp"
#include "diffusion/losses.hpp"
#include "diffusion/noising.hpp"
#include "diffusion/rounding.hpp"
#include "diffusion/sampler.hpp"
#include "diffusion/schedule.hpp"
#include "diffusion/self_conditioning.hpp"
#include "diffusion/timestep_sampler.hpp"
